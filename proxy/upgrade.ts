import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyCore } from './core.ts';
import { parseAbsoluteTarget } from './core.ts';
import type { Forwarder } from './forward.ts';
import { DialAgent } from './forward.ts';
import { stripHopByHop } from './hop-by-hop.ts';
import { RequestError, upstreamError } from './request-error.ts';
import { respondErrorRaw } from './respond.ts';

// WebSocket over plain HTTP (`GET http://host/chat` with `Upgrade: websocket`): the same steps as a
// plain request, then http-proxy's ws pass-through on a connection from `dial`. The event ends
// when the WebSocket closes, with the bytes of the whole conversation.

export class Upgrader {
  /** upgraded connections are never reused, so no keep-alive pool */
  private readonly agent = new DialAgent({ keepAlive: false });
  private readonly statuses = new WeakMap<IncomingMessage, (status: number) => void>();

  constructor(private readonly core: ProxyCore, private readonly forwarder: Forwarder) {
    forwarder.proxy.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage) => {
      const set = this.statuses.get(req);
      if (!set) return;
      proxyReq.once('upgrade', (res: IncomingMessage) => set(res.statusCode ?? 101));
      proxyReq.once('response', (res: IncomingMessage) => set(res.statusCode ?? 502));
    });
  }

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
      if (req.method !== 'GET' || String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw new RequestError(400, 'FW_MALFORMED', `only WebSocket upgrades are passed through (got "${String(req.headers.upgrade ?? '').slice(0, 40)}")`, 'malformed');
      }
      // a socket, not a response object: the same page path as a refused tunnel
      const address = await core.admitSocket(ev, identity, target, 'GET', req, client, head);
      if (address === null) return;
      let status = 502;
      this.statuses.set(req, (s) => { status = s; });
      client.once('close', () => ev.end(status));
      stripHopByHop(req.headers, true);
      req.headers.host = new URL(target.url).host;
      req.url = target.path + (target.query ? `?${target.query}` : '');
      this.forwarder.proxy.ws(req, client, head, {
        target: { protocol: 'http:', host: address, port: target.port } as never,
        agent: this.agent,
      }, (err: Error) => {
        const e = upstreamError(err, target.url);
        ev.flag(e.flag);
        status = e.status;
        respondErrorRaw(client, ev, e);
      });
    } catch (e) {
      respondErrorRaw(client, ev, e);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
