import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../../core/config/schema.ts';
import type { Inspection, ProxyCore } from '../core.ts';
import type { EventBuilder } from '../event-builder.ts';
import type { Forwarder } from '../forward.ts';
import { admitInspected, type OpenedTunnel } from '../pipeline.ts';
import { respondError } from '../respond.ts';
import { terminateTls } from './intercept.ts';
import { isCaRejection } from './untrusted-ca.ts';

// An inspected tunnel (policy.inspect): "200 Connection established", TLS towards the browser with
// a leaf for the CONNECT host, then every request inside goes through admitInspected (pipeline.ts)
// and on to the origin over a verified TLS connection (Forwarder, upstream.ts), so the file rules
// and block pages hold over HTTPS. Each request has its own event; the tunnel keeps its own too.
// A device whose TLS alert says it does not trust the organisation CA is remembered, and its
// tunnels are spliced from then on (untrusted-ca.ts).

export function openTunnel(core: ProxyCore, inspection: Inspection, forwarder: Forwarder, ev: EventBuilder, tunnel: OpenedTunnel, client: Socket, head: Buffer): void {
  client.write('HTTP/1.1 200 Connection established\r\n\r\n');
  terminateTls(client, head, {
    host: tunnel.target.host,
    minter: inspection.minter,
    idleMs: core.idleTimeoutMs,
    handler: (req, res) => void inner(core, forwarder, tunnel, req, res),
    onTlsError: (err, secured) => {
      if (secured) return;
      if (isCaRejection(err)) {
        ev.flag('ca-untrusted');
        inspection.untrusted.rejected(ev.clientIp);
      } else {
        ev.flag('tls-handshake-failed');
      }
    },
    // the requests inside carry their own bytes: the tunnel's event keeps only the TLS overhead
    onClose: (info) => {
      ev.excludeBytes(info.bytesUp, info.bytesDown);
      ev.end(200);
    },
  });
}

async function inner(core: ProxyCore, forwarder: Forwarder, tunnel: OpenedTunnel, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ev = core.beginEvent(req.socket, req.method ?? '');
  res.once('close', () => ev.end(res.headersSent ? res.statusCode : 499));
  try {
    const admitted = await admitInspected(core, ev, tunnel, req, res);
    if (!admitted || res.destroyed) return;
    forwarder.forwardAdmitted(ev, req, res, admitted, true);
  } catch (e) {
    respondError(res, ev, e);
  }
}

/** proxy.upstreamCaFile: extra CAs trusted for inspected origins; an unreadable file is an error naming the key. */
export function upstreamCas(config: Config): string[] | undefined {
  const file = config.proxy.upstreamCaFile;
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`proxy.upstreamCaFile: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!certs) throw new Error(`proxy.upstreamCaFile: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return certs.map((c) => c + '\n');
}
