// Reads a TLS ClientHello's server name (SNI) without terminating TLS: the first record a client
// sends in a tunnel is in the clear. Pure and bounded: every length is checked against the bytes
// there are; anything that does not parse is "not TLS" or "incomplete", never an exception.

export type HelloRead =
  | { kind: 'incomplete' }
  | { kind: 'not-tls' }
  | { kind: 'tls'; serverName: string | null };

/** The most a ClientHello may take before the proxy stops waiting for the rest (TLS allows 16 KiB a record). */
export const HELLO_MAX_BYTES = 16 * 1024 + 5;

export function readClientHello(b: Buffer): HelloRead {
  if (b.length < 1) return { kind: 'incomplete' };
  // a handshake record (22), TLS 1.0-1.3 record versions 3.1-3.4 (3.0 and 3.1 seen in first records)
  if (b[0] !== 0x16) return { kind: 'not-tls' };
  if (b.length < 5) return { kind: 'incomplete' };
  if (b[1] !== 0x03 || b[2]! > 0x04) return { kind: 'not-tls' };
  const recordLength = b.readUInt16BE(3);
  if (recordLength < 4 || recordLength > 16 * 1024 + 256) return { kind: 'not-tls' };
  if (b.length < 5 + recordLength) return { kind: 'incomplete' };
  const hs = b.subarray(5, 5 + recordLength);
  if (hs[0] !== 0x01) return { kind: 'not-tls' }; // ClientHello
  const helloLength = (hs[1]! << 16) | (hs[2]! << 8) | hs[3]!;
  // a hello split over several records: the name is in the first part in practice; read what is there
  const body = hs.subarray(4, Math.min(hs.length, 4 + helloLength));
  let p = 2 + 32; // client version, random
  if (p + 1 > body.length) return { kind: 'tls', serverName: null };
  p += 1 + body[p]!; // session id
  if (p + 2 > body.length) return { kind: 'tls', serverName: null };
  p += 2 + body.readUInt16BE(p); // cipher suites
  if (p + 1 > body.length) return { kind: 'tls', serverName: null };
  p += 1 + body[p]!; // compression methods
  if (p + 2 > body.length) return { kind: 'tls', serverName: null };
  const extEnd = Math.min(body.length, p + 2 + body.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = body.readUInt16BE(p);
    const len = body.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) break;
    if (type === 0 && len >= 5) {
      // server_name: list length, then (type 0 = host_name, length, name)
      let q = p + 2;
      const listEnd = Math.min(p + len, q + body.readUInt16BE(p));
      while (q + 3 <= listEnd) {
        const nameType = body[q]!;
        const nameLen = body.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > listEnd) break;
        if (nameType === 0) return { kind: 'tls', serverName: body.subarray(q, q + nameLen).toString('latin1').toLowerCase().replace(/\.$/, '') };
        q += nameLen;
      }
    }
    p += len;
  }
  return { kind: 'tls', serverName: null };
}
