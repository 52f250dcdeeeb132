// The collector's side of RFC 5424 over RFC 6587 octet counting, for the tests' syslog receiver:
// what a SIEM would parse from fairwatch's frames.

/** Splits a stream of octet-counted frames; returns the complete messages and the unread rest. */
export function parseOctetFrames(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let at = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, at);
    if (sp < 0) break;
    const lenText = buf.subarray(at, sp).toString('ascii');
    if (!/^[1-9]\d{0,8}$/.test(lenText)) throw new Error(`syslog frame: bad length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    if (buf.length < sp + 1 + len) break;
    messages.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    at = sp + 1 + len;
  }
  return { messages, rest: buf.subarray(at) };
}

export interface ParsedSyslog {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: Record<string, Record<string, string>>;
  msg: string;
}

/** Parses one RFC 5424 message. */
export function parseSyslog(text: string): ParsedSyslog {
  const m = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!m) throw new Error(`not an RFC 5424 message: ${text.slice(0, 80)}`);
  let i = m[0].length;
  const sd: Record<string, Record<string, string>> = {};
  if (text[i] === '-') i++;
  else {
    while (text[i] === '[') {
      const idEnd = text.slice(i + 1).search(/[ \]]/) + i + 1;
      const id = text.slice(i + 1, idEnd);
      const params: Record<string, string> = {};
      i = idEnd;
      while (text[i] === ' ') {
        const eq = text.indexOf('="', i);
        const name = text.slice(i + 1, eq);
        let j = eq + 2;
        let v = '';
        while (j < text.length && text[j] !== '"') {
          if (text[j] === '\\' && /["\\\]]/.test(text[j + 1] ?? '')) j++;
          v += text[j];
          j++;
        }
        params[name] = v;
        i = j + 1;
      }
      if (text[i] !== ']') throw new Error(`syslog: structured data not closed at ${i}`);
      i++;
      sd[id] = params;
    }
  }
  const rest = text.slice(i);
  return {
    pri: Number(m[1]), version: Number(m[2]), timestamp: m[3]!, hostname: m[4]!, appName: m[5]!, procId: m[6]!, msgId: m[7]!,
    sd, msg: rest.startsWith(' ') ? rest.slice(1).replace(/^\ufeff/, '') : '',
  };
}
