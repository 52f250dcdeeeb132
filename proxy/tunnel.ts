import type { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { HELLO_MAX_BYTES, readClientHello } from '../core/net/client-hello.ts';
import { registrableDomain } from '../core/net/registrable-domain.ts';
import type { Identity } from './identify.ts';
import type { ProxyCore } from './core.ts';
import { parseAuthority } from './core.ts';
import { dial } from './dial.ts';
import type { EventBuilder } from './event-builder.ts';
import { RequestError, upstreamError } from './request-error.ts';
import { endWhenClosed, respondErrorRaw } from './respond.ts';
import type { Forwarder } from './forward.ts';
import { admitSocket, inspectTunnel } from './pipeline.ts';
import { openTunnel } from './tls/inspect.ts';
import { relayReleasing } from './read-buffers.ts';
import { relayReads, type RelayReads } from './relay-socket.ts';

// CONNECT host:port: admit, identify, configured ports only, decide, check the destination, then
// open the tunnel when policy.inspect says so (tls/inspect.ts), else splice the two sockets. Each direction ends on its own (half-close: a client that has finished
// sending still receives the rest), both close on an error or after the idle timeout.

export async function handleConnect(core: ProxyCore, forwarder: Forwarder, req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
  const ev = core.beginEvent(client, 'CONNECT');
  client.on('error', () => client.destroy());
  try {
    core.admit(ev);
    const target = parseAuthority(req.url ?? '');
    core.setTarget(ev, target);
    const identity = await core.identify(ev, req.headers['proxy-authorization']) ?? core.signInProviderPass(ev, target);
    if (!identity) {
      const answered = core.answerSignInConnect(ev, client, head, target);
      if (answered !== null) {
        endWhenClosed(client, ev, answered);
        return;
      }
    }
    if (!identity) throw new RequestError(407, 'FW_AUTH_REQUIRED', 'Sign in with your fairwatch user name and password to use the internet here.');
    if (!core.connectPorts.has(target.port)) {
      ev.action = 'block';
      ev.rule = 'proxy.connectPorts';
      throw new RequestError(403, 'FW_PORT_REFUSED', `Secure connections are allowed only to port ${[...core.connectPorts].join(', ')} (proxy.connectPorts), not ${target.port}.`, 'port-refused');
    }
    core.checkIpLiteral(ev, target, client.localAddress);
    const admitted = await admitSocket(core, ev, identity, target, 'CONNECT', req, client, head);
    if (admitted === null) return;
    if (core.inspection && (await inspectTunnel(core, ev, admitted.ctx))) {
      if (client.destroyed) {
        ev.end(499);
        return;
      }
      openTunnel(core, core.inspection, forwarder, ev, { target, identity, address: admitted.address }, client, head);
      return;
    }
    let upstream: Socket;
    const relay = relayReads();
    try {
      upstream = await connectUpstream(core, admitted.address, target.port, target.url, relay);
    } catch (e) {
      if (e instanceof RequestError && e.code === 'FW_UPSTREAM_UNREACHABLE') core.dialFailed(ev, target);
      throw e;
    }
    if (client.destroyed) {
      upstream.destroy();
      ev.end(499);
      return;
    }
    client.write('HTTP/1.1 200 Connection established\r\n\r\n');
    const first = core.config.proxy.tlsPorts.includes(target.port) ? await checkClientHello(core, ev, identity, target.host, client, head) : head;
    if (first === null) {
      upstream.destroy();
      return;
    }
    if (first.length > 0) upstream.write(first);
    splice(client, upstream, core.idleTimeoutMs, ev, 200, relay);
  } catch (e) {
    respondErrorRaw(client, ev, e instanceof RequestError ? e : upstreamError(e, req.url ?? ''));
  }
}

const HELLO_WAIT_MS = 10_000;

/**
 * Anti-bypass on a TLS port, without terminating TLS: the first bytes must be a ClientHello, and
 * the server name in it must belong to the CONNECT host's site and not be one the policy blocks
 * (domain fronting: an allowed CONNECT host carrying a blocked site's name). Returns the bytes read
 * so far to forward, or null after refusing (the client's connection is closed and the event says why).
 */
async function checkClientHello(core: ProxyCore, ev: EventBuilder, identity: Identity, host: string, client: Socket, head: Buffer): Promise<Buffer | null> {
  let buf = head;
  let read = readClientHello(buf);
  if (read.kind === 'incomplete') {
    read = await new Promise<ReturnType<typeof readClientHello>>((resolve) => {
      const done = (r: ReturnType<typeof readClientHello>) => {
        clearTimeout(timer);
        client.off('data', onData);
        client.off('close', onClose);
        client.pause();
        resolve(r);
      };
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const r = readClientHello(buf);
        if (r.kind !== 'incomplete') done(r);
        else if (buf.length > HELLO_MAX_BYTES) done({ kind: 'not-tls' });
      };
      const onClose = () => done({ kind: 'incomplete' });
      const timer = setTimeout(() => done({ kind: 'incomplete' }), HELLO_WAIT_MS);
      client.on('data', onData);
      client.once('close', onClose);
      client.resume();
    });
  }
  const refuse = (rule: string, flag: string): null => {
    ev.action = 'block';
    ev.rule = rule;
    ev.flag(flag);
    client.destroy();
    ev.end(200);
    return null;
  };
  if (client.destroyed) {
    ev.end(499);
    return null;
  }
  if (read.kind === 'not-tls') return refuse('not-tls', 'not-tls');
  if (read.kind === 'incomplete') return refuse('not-tls', 'no-client-hello');
  const name = read.serverName;
  if (name === null || name === host) return buf;
  ev.flag(`sni:${name.slice(0, 100)}`);
  if (isIP(host) === 0 && registrableDomain(name) !== registrableDomain(host)) return refuse('sni-mismatch', 'sni-mismatch');
  const d = core.engine().decide({ user: identity.user, group: identity.group, method: 'CONNECT', scheme: 'https', host: name, port: 443, path: '', at: new Date() });
  if (d.action === 'block') return refuse(d.rule, 'sni-blocked');
  return buf;
}

function connectUpstream(core: ProxyCore, address: string, port: number, label: string, relay: RelayReads): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const upstream = dial(address, port, { onread: relay.onread });
    relay.socket = upstream;
    const fail = (err: Error) => {
      upstream.destroy();
      reject(upstreamError(err, label));
    };
    // a connection never accepted reads like a refused one (no hint for a port scan)
    upstream.setTimeout(core.upstreamTimeoutMs, () => fail(new RequestError(502, 'FW_UPSTREAM_UNREACHABLE', `${label} could not be reached.`, 'upstream-unreachable')));
    upstream.once('error', fail);
    upstream.once('connect', () => {
      upstream.off('error', fail);
      upstream.setTimeout(0);
      resolve(upstream);
    });
  });
}

/**
 * Pipes both ways with half-close; the event ends when both sockets are closed. `relay`: the
 * upstream socket was dialled reading into a relay buffer (relay-socket.ts), not as a stream.
 */
export function splice(client: Socket, upstream: Socket, idleMs: number, ev: EventBuilder, status = 200, relay?: RelayReads): void {
  let open = 2;
  const closed = () => {
    if (--open === 0) {
      clearInterval(idle);
      ev.end(status);
    }
  };
  const kill = () => {
    client.destroy();
    upstream.destroy();
  };
  client.once('close', closed);
  upstream.once('close', closed);
  // One side gone, the other reads on into nothing: otherwise its last bytes (a TLS close_notify
  // after the client left) would sit unread, 'end' would never come and the tunnel and its event
  // would stay open.
  client.once('close', () => upstream.resume());
  upstream.once('close', () => client.resume());
  client.on('error', kill);
  upstream.on('error', (err) => {
    ev.flag('upstream-reset');
    void err;
    kill();
  });
  // Idle: no byte either way for idleTimeoutSeconds. Checked by one timer a tunnel looking at the
  // byte counters, not by socket timeouts, which are re-armed on every chunk a busy tunnel moves.
  client.setTimeout(0);
  upstream.setTimeout(0);
  const moved = () => client.bytesRead + client.bytesWritten + upstream.bytesRead + upstream.bytesWritten;
  let last = moved();
  let lastChange = Date.now();
  const idle = setInterval(() => {
    const now = moved();
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= idleMs) {
      ev.flag('idle-timeout');
      kill();
    }
  }, Math.max(50, Math.min(idleMs / 10, 30_000)));
  idle.unref();
  // each side's end ends the other side's writing (FIN passes through); the sockets allow
  // half-open, and each closes by itself once it has both received and sent its end
  relayReleasing(client, upstream);
  if (relay) relay.start(client);
  else relayReleasing(upstream, client);
}
