import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Decision } from '../core/policy/types.ts';
import type { Identity } from './identify.ts';

// What the proxy answers once the policy has decided. The forwarder calls these hooks and nothing
// else; the worker gives the staff hooks (proxy/tls/staff-hooks.ts: the block, warning and
// acceptable-use pages of core/pages/).

export interface DecisionContext {
  /** the event's id, shown as the reference on pages */
  eventId: string;
  identity: Identity;
  clientIp: string;
  decision: Decision;
  target: { scheme: 'http' | 'https'; host: string; port: number; path: string; url: string };
  /** a hook that answers may set the event's action (e.g. 'aup', 'warn'); default decision.action */
  eventAction?: string;
}

export interface ResponseHooks {
  /** plain HTTP: answer and return true (block page, interstitial, redirect), or false to forward */
  http(ctx: DecisionContext, req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean>;
  /** CONNECT: write a response on the socket and return its status, or null to open the tunnel */
  connect(ctx: DecisionContext, req: IncomingMessage, socket: Duplex, head: Buffer): number | null | Promise<number | null>;
  /** origin-form requests (the proxy addressed as a web server): answer and return true, or false for 400 */
  originForm(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean>;
}
