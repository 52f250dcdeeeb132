import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AccessEvent, EventSink } from '../core/events/event.ts';
import type { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { normaliseIp } from '../core/net/cidr.ts';
import type { Decision } from '../core/policy/types.ts';
import { counter } from '../core/metrics.ts';
import type { Identity } from './identify.ts';
import { cameThroughTlsListener } from './tls-listener.ts';

// One event per request or tunnel, emitted when it ends (docs/architecture/contract.md, "ClickHouse tables"). Bytes are counted on
// the client's socket, headers and bodies both ways: a keep-alive socket carries several requests,
// so each request takes the difference since the previous one on that socket ended.

const marks = new WeakMap<Socket, { read: number; written: number }>();
const requestsTotal = counter('fairwatch_proxy_requests_total', 'Requests and tunnels the proxy finished, by action', ['action']);

export interface EventDeps {
  sink: EventSink;
  pseudonyms: Pseudonymiser;
  storeQueryStrings: boolean;
}

export class EventBuilder {
  readonly id = randomUUID();
  private readonly started = performance.now();
  private readonly base: { read: number; written: number };
  private emitted = false;
  private readonly excluded = { read: 0, written: 0 };
  readonly clientIp: string;
  method: string;
  scheme = 'http';
  host = '';
  port = 0;
  path = '';
  query = '';
  identity: Identity | null = null;
  contentType = '';
  filename = '';
  category = '';
  action = 'error';
  rule = '';
  readonly flags: string[] = [];

  constructor(private readonly deps: EventDeps, private readonly socket: Socket, method: string) {
    this.method = method;
    this.clientIp = normaliseIp(socket.remoteAddress ?? '');
    this.base = marks.get(socket) ?? { read: 0, written: 0 };
    // which listener: proxy.tlsPort's connections (and tunnels opened inside them) say so
    if (cameThroughTlsListener(socket)) this.flags.push('proxy-tls');
  }

  get ended(): boolean {
    return this.emitted;
  }

  setDecision(d: Decision): void {
    this.category = d.category;
    this.action = d.action;
    this.rule = d.rule;
  }

  /**
   * Bytes already recorded by other events (the requests inside an opened tunnel), taken off this
   * one so totals over events count each byte once.
   */
  excludeBytes(up: number, down: number): void {
    this.excluded.read += up;
    this.excluded.written += down;
  }

    flag(f: string): void {
    if (f && !this.flags.includes(f)) this.flags.push(f);
  }

  /** Emits the event once; later calls do nothing. */
  end(status: number): void {
    if (this.emitted) return;
    this.emitted = true;
    const read = this.socket.bytesRead;
    const written = this.socket.bytesWritten;
    marks.set(this.socket, { read, written });
    const p = this.deps.pseudonyms;
    const client = this.clientIp ? p.client(this.clientIp) : '';
    const event: AccessEvent = {
      ts: new Date().toISOString(),
      event_id: this.id,
      user_pseudonym: this.identity?.user ? p.user(this.identity.user) : client,
      user_group: this.identity?.group ?? 'unidentified',
      client_pseudonym: client,
      method: this.method.slice(0, 32),
      scheme: this.scheme,
      host: this.host,
      port: this.port,
      path: this.path,
      status,
      bytes_up: Math.max(0, read - this.base.read - this.excluded.read),
      bytes_down: Math.max(0, written - this.base.written - this.excluded.written),
      duration_ms: Math.round(performance.now() - this.started),
      content_type: this.contentType,
      filename: this.filename,
      category: this.category,
      action: this.action,
      rule: this.rule,
      flags: this.flags,
      source: 'proxy',
    };
    if (this.deps.storeQueryStrings && this.query) event.query = this.query;
    requestsTotal.inc({ action: this.action });
    this.deps.sink.emit(event);
  }
}
