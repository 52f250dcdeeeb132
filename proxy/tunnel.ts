import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyCore } from './core.ts';
import { parseAuthority } from './core.ts';
import { dial } from './dial.ts';
import type { EventBuilder } from './event-builder.ts';
import { RequestError, upstreamError } from './request-error.ts';
import { endWhenClosed, respondErrorRaw } from './respond.ts';
import type { Forwarder } from './forward.ts';
import { admitSocket, inspectTunnel } from './pipeline.ts';
import { openTunnel } from './tls/inspect.ts';

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
    const identity = await core.identify(ev, req.headers['proxy-authorization']);
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
    try {
      upstream = await connectUpstream(core, admitted.address, target.port, target.url);
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
    if (head.length > 0) upstream.write(head);
    splice(client, upstream, core.idleTimeoutMs, ev);
  } catch (e) {
    respondErrorRaw(client, ev, e instanceof RequestError ? e : upstreamError(e, req.url ?? ''));
  }
}

function connectUpstream(core: ProxyCore, address: string, port: number, label: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const upstream = dial(address, port);
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

/** Pipes both ways with half-close; the event ends when both sockets are closed. */
export function splice(client: Socket, upstream: Socket, idleMs: number, ev: EventBuilder, status = 200): void {
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
  // pipe() ends the other side's writing when one side ends (FIN passes through); the sockets
  // allow half-open, and each closes by itself once it has both received and sent its end
  client.pipe(upstream);
  upstream.pipe(client);
}
