import { createServer, type Server } from 'node:net';

// A minimal SMTP server on 127.0.0.1 for tests (RFC 5321 happy path, no TLS, no auth): it accepts
// every message and keeps its envelope and data.

export interface Received { from: string; to: string[]; data: string }

export async function startSmtpSink(): Promise<{ port: number; messages: Received[]; close: () => Promise<void> }> {
  const messages: Received[] = [];
  const server: Server = createServer((sock) => {
    sock.setEncoding('utf8');
    let buf = '';
    let inData = false;
    let cur: Received = { from: '', to: [], data: '' };
    const say = (line: string) => sock.write(line + '\r\n');
    say('220 sink.test ESMTP');
    sock.on('error', () => {});
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 10 * 1024 * 1024) return sock.destroy();
      for (let guard = 0; guard < 10_000; guard++) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          cur.data = buf.slice(0, end).replace(/^\.\./gm, '.');
          buf = buf.slice(end + 5);
          messages.push(cur);
          cur = { from: '', to: [], data: '' };
          inData = false;
          say('250 OK queued');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') say('250 sink.test');
        else if (verb === 'MAIL') { cur.from = line; say('250 OK'); }
        else if (verb === 'RCPT') { cur.to.push(line); say('250 OK'); }
        else if (verb === 'DATA') { inData = true; say('354 go ahead'); }
        else if (verb === 'QUIT') { say('221 bye'); sock.end(); return; }
        else if (verb === 'RSET' || verb === 'NOOP') say('250 OK');
        else say('502 not implemented');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { port, messages, close: () => new Promise<void>((r) => server.close(() => r())) };
}
