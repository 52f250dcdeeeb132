// RFC 5424 syslog messages with structured data, and RFC 6587 octet-counting framing for stream
// transports. Pure functions: the forwarder does the I/O.

export type SdElements = Record<string, Record<string, string | number>>;

export interface SyslogMessage {
  facility: number;
  /** 0 emergency … 7 debug */
  severity: number;
  tsMs: number;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: SdElements;
  msg: string;
}

/** PRINTUSASCII without space; header fields have their own length limits. */
function headerField(v: string, max: number): string {
  const s = v.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return s || '-';
}

/** SD-NAME: printable ASCII except = SP ] " (at most 32). */
function sdName(v: string): string {
  const s = v.replace(/[^\x21-\x7e]|[="\]]/g, '').slice(0, 32);
  if (!s) throw new Error(`syslog: structured-data name ${JSON.stringify(v)} has no allowed characters`);
  return s;
}

/** PARAM-VALUE: UTF-8 with ", \ and ] escaped (RFC 5424 section 6.3.3). */
export function escapeParam(v: string): string {
  return v.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

export function formatSyslog(m: SyslogMessage): string {
  const pri = m.facility * 8 + m.severity;
  const ts = new Date(m.tsMs).toISOString();
  const sd = Object.entries(m.sd).map(([id, params]) =>
    `[${sdName(id)}${Object.entries(params).map(([k, v]) => ` ${sdName(k)}="${escapeParam(String(v))}"`).join('')}]`).join('') || '-';
  const head = `<${pri}>1 ${ts} ${headerField(m.hostname, 255)} ${headerField(m.appName, 48)} ${headerField(m.procId, 128)} ${headerField(m.msgId, 32)} ${sd}`;
  // a BOM marks the free-form message as UTF-8 (section 6.4)
  return m.msg ? `${head} \ufeff${m.msg}` : head;
}

/** RFC 6587 section 3.4.1: MSG-LEN SP SYSLOG-MSG, the length in octets. */
export function octetFrame(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
