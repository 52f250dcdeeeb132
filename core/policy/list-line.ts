import { normaliseHost, type HostKind } from './host.ts';

// One line of a squidGuard / UT1 `domains` or `urls` file, and the messy forms real lists contain:
// comments, blank lines, CRLF, a BOM, upper case, trailing dots, leading `.` or `*.`, IDN, IP
// literals (IPv6 in brackets or bare), ports, a scheme someone pasted in. Pure: no I/O.

export type ParsedLine =
  | { kind: 'skip' }
  | { kind: 'entry'; host: string; hostKind: HostKind; path: string }
  | { kind: 'bad'; why: string };

const SKIP: ParsedLine = { kind: 'skip' };

export function parseListLine(raw: string, allowPath: boolean): ParsedLine {
  let line = raw;
  if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
  const hash = line.indexOf('#');
  if (hash >= 0) line = line.slice(0, hash);
  line = line.trim();
  if (line === '') return SKIP;
  if (/\s/.test(line)) return { kind: 'bad', why: 'contains a space' };
  line = line.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  let path = '';
  const slash = line.indexOf('/');
  if (slash >= 0) {
    path = line.slice(slash + 1).replace(/\/+$/, '');
    line = line.slice(0, slash);
    if (path !== '' && !allowPath) return { kind: 'bad', why: 'a path in a domains file (put it in urls)' };
  }
  if (line.startsWith('*.')) line = line.slice(2);
  else if (line.startsWith('.')) line = line.slice(1);
  // a port: host:port, [v6]:port; a bare IPv6 has several colons and no brackets
  let hostPart = line;
  if (hostPart.startsWith('[')) {
    const close = hostPart.indexOf(']');
    if (close < 0) return { kind: 'bad', why: 'unclosed [ in an IPv6 address' };
    const rest = hostPart.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return { kind: 'bad', why: `unexpected "${rest}" after the IPv6 address` };
    hostPart = hostPart.slice(1, close);
  } else {
    const colons = hostPart.split(':').length - 1;
    if (colons === 1) {
      const [h, p] = hostPart.split(':') as [string, string];
      if (!/^\d{1,5}$/.test(p) || Number(p) > 65535) return { kind: 'bad', why: `bad port "${p}"` };
      hostPart = h;
    }
  }
  const norm = normaliseHost(hostPart);
  if (!norm) return { kind: 'bad', why: `not a host name: "${hostPart.slice(0, 60)}"` };
  return { kind: 'entry', host: norm.host, hostKind: norm.kind, path: path.toLowerCase() };
}
