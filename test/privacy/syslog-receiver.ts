import { createSocket } from 'node:dgram';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { parseOctetFrames, parseSyslog, type ParsedSyslog } from './syslog-parse.ts';

// A syslog collector for tests: TLS or TCP with octet-counting framing (RFC 6587), or UDP, on
// 127.0.0.1. Keeps every message parsed as RFC 5424, and the raw bytes to search for what must not be there.

export interface Receiver {
  port: number;
  messages: ParsedSyslog[];
  raw: string[];
  close(): Promise<void>;
}

export async function startSyslogReceiver(kind: 'tls' | 'tcp' | 'udp', tls?: { cert: string; key: string }, port = 0): Promise<Receiver> {
  const messages: ParsedSyslog[] = [];
  const raw: string[] = [];
  const take = (m: string) => { raw.push(m); messages.push(parseSyslog(m)); };
  if (kind === 'udp') {
    const s = createSocket('udp4');
    s.on('message', (b) => take(b.toString('utf8')));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    return { port: s.address().port, messages, raw, close: () => new Promise((r) => s.close(() => r())) };
  }
  const sockets = new Set<Socket>();
  const onSocket = (sock: Socket) => {
    sockets.add(sock);
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const r = parseOctetFrames(buf);
      buf = Buffer.from(r.rest);
      r.messages.forEach(take);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  };
  const server = kind === 'tls' ? createTlsServer({ cert: tls!.cert, key: tls!.key }, onSocket) : createNetServer(onSocket);
  await new Promise<void>((r, j) => { server.once('error', j); server.listen(port, '127.0.0.1', r); });
  return {
    port: (server.address() as AddressInfo).port, messages, raw,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
