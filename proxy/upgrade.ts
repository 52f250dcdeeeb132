import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyCore } from './core.ts';
import { parseAbsoluteTarget } from './core.ts';
import { dial } from './dial.ts';
import { outgoingRequestHeaders } from './hop-by-hop.ts';
import { admitSocket } from './pipeline.ts';
import { RequestError, upstreamError } from './request-error.ts';
import { respondErrorRaw } from './respond.ts';
import { splice } from './tunnel.ts';

// WebSocket over plain HTTP (`GET http://host/chat` with `Upgrade: websocket`): the same steps as a
// plain request, then the handshake on a fresh connection from `dial` (an upgraded connection is
// never pooled) and a splice of the two sockets. The event ends when the WebSocket closes, with the
// bytes of the whole conversation.

export class Upgrader {
  constructor(private readonly core: ProxyCore) {}

  async handle(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    const core = this.core;
    const ev = core.beginEvent(client, req.method ?? 'GET');
    client.on('error', () => client.destroy());
    try {
      core.admit(ev);
      const target = parseAbsoluteTarget(req.url ?? '');
      core.setTarget(ev, target);
      const identity = await core.identify(ev, req.headers['proxy-authorization']);
      if (!identity) throw new RequestError(407, 'FW_AUTH_REQUIRED', 'Sign in with your fairwatch user name and password to use the internet here.');
      if (req.method !== 'GET' || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
        throw new RequestError(400, 'FW_MALFORMED', `only WebSocket upgrades (GET, no body) are passed through (got "${String(req.headers.upgrade ?? '').slice(0, 40)}")`, 'malformed');
      }
      core.checkIpLiteral(ev, target, client.localAddress);
      // a socket, not a response object: the same page path as a refused tunnel
      const admitted = await admitSocket(core, ev, identity, target, 'GET', req, client, head);
      if (admitted === null) return;
      const host = target.port === 80 ? target.host : `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
      const headers = outgoingRequestHeaders(req.rawHeaders, host, { contentLength: null });
      headers.push('connection', 'Upgrade', 'upgrade', 'websocket');
      const out = request({
        method: 'GET', path: target.path + (target.query ? `?${target.query}` : ''), headers, setHost: false,
        createConnection: () => dial(admitted.address, target.port),
        timeout: core.upstreamTimeoutMs,
      });
      out.once('timeout', () => out.destroy(new RequestError(504, 'FW_UPSTREAM_TIMEOUT', `${target.url} did not answer the upgrade in time`, 'upstream-timeout')));
      out.once('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
        out.setTimeout(0);
        upstream.setTimeout(0);
        client.write(responseHead(res));
        if (upstreamHead.length > 0) client.write(upstreamHead);
        if (head.length > 0) upstream.write(head);
        splice(client, upstream, core.idleTimeoutMs, ev, res.statusCode ?? 101);
      });
      out.once('response', (res: IncomingMessage) => {
        // the site declined the upgrade: its answer goes back as it is, then the connection closes
        client.write(responseHead(res, true));
        res.pipe(client);
        client.once('close', () => ev.end(res.statusCode ?? 502));
      });
      out.once('error', (err: Error) => respondErrorRaw(client, ev, upstreamError(err, target.url)));
      out.end();
    } catch (e) {
      respondErrorRaw(client, ev, e);
    }
  }
}

function responseHead(res: IncomingMessage, close = false): string {
  const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}`];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i]!.toLowerCase();
    if (close && (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding')) continue;
    lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
  }
  if (close) lines.push('Connection: close');
  return lines.join('\r\n') + '\r\n\r\n';
}
