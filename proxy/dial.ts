import { connect, isIP, type Socket } from 'node:net';
import { normaliseIp } from '../core/net/cidr.ts';
import type { RelayReads } from './relay-socket.ts';
import { RequestError } from './request-error.ts';

// Every outbound connection the proxy makes goes through `dial`, after the destination guard has
// approved the address. It takes an IP address only (the caller resolved and checked the name), so
// no lookup can happen behind the guard's back. With FAIRWATCH_DIAL_LOOPBACK_ONLY=1 (set by every
// proxy test and benchmark) it refuses anything off loopback, so even a broken guard cannot send a
// packet to the network during a test.

function isLoopback(ip: string): boolean {
  const plain = normaliseIp(ip);
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

/**
 * `halfOpen` (default) keeps a socket writable after the peer's FIN, which tunnels need (a client
 * that has finished sending still receives the rest). Pooled HTTP sockets must not: a half-open
 * socket the origin closed would stay in the pool and take the next request into the void.
 */
export function dial(address: string, port: number, opts: { halfOpen?: boolean; onread?: RelayReads['onread'] } = {}): Socket {
  if (isIP(address) === 0) {
    throw new RequestError(502, 'FW_DIAL_REFUSED', `internal: dial needs an IP address, got "${address}"`);
  }
  if (process.env.FAIRWATCH_DIAL_LOOPBACK_ONLY === '1' && !isLoopback(address)) {
    throw new RequestError(502, 'FW_DIAL_REFUSED', `refusing to connect to ${address}:${port} (FAIRWATCH_DIAL_LOOPBACK_ONLY=1)`, 'dial-refused');
  }
  const socket = connect({ host: address, port, allowHalfOpen: opts.halfOpen ?? true, noDelay: true, ...(opts.onread ? { onread: opts.onread } : {}) });
  return socket;
}
