import { normaliseHost, type HostKind } from './host.ts';

// One line of a squidGuard / UT1 `domains` or `urls` file, and the messy forms real lists contain:
// comments, blank lines, CRLF, a BOM, upper case, trailing dots, leading `.` or `*.`, IDN, IP
// literals (IPv6 in brackets or bare), ports, a scheme someone pasted in, a `#fragment` (cut like a
// comment: browsers never send it). Pure: no I/O.

export type ParsedLine =
  | { kind: 'skip' }
  | {
    kind: 'entry'; host: string; hostKind: HostKind;
    /** what follows the host's `/`, lower case, trailing slashes and any `?query` kept ('' for none) */
    path: string;
    /** the line had a `/` after the host: a URL entry even when nothing follows it */
    url: boolean;
  }
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
  // a `?query` straight after the host (example.com?x) belongs to the URL part too
  const slash = line.search(/[/?]/);
  const url = slash >= 0;
  if (url) {
    path = line.slice(line[slash] === '/' ? slash + 1 : slash);
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
  return { kind: 'entry', host: norm.host, hostKind: norm.kind, path: path.toLowerCase(), url: url && allowPath };
}
