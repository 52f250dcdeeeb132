// One access event per request or tunnel, written when it ends (docs/architecture/contract.md, "ClickHouse tables").
// People and machines appear only as pseudonyms.

export type EventAction = 'allow' | 'block' | 'warn' | 'continue' | 'quota' | 'log' | 'auth-required' | 'aup' | 'denied-client' | 'error';

export interface AccessEvent {
  /** ISO 8601 time the request ended */
  ts: string;
  event_id: string;
  user_pseudonym: string;
  user_group: string;
  client_pseudonym: string;
  method: string;
  /** http | https (CONNECT tunnels are https unless the port says otherwise) */
  scheme: string;
  host: string;
  port: number;
  /** path without the query string */
  path: string;
  /** only when retention.storeQueryStrings is on */
  query?: string;
  status: number;
  /** client → origin, headers + body (tunnels: all bytes the client sent) */
  bytes_up: number;
  /** origin → client */
  bytes_down: number;
  duration_ms: number;
  content_type: string;
  filename: string;
  category: string;
  action: EventAction | string;
  rule: string;
  /** e.g. executable, large-upload, malformed, ssrf-refused */
  flags: string[];
  /** proxy | import */
  source?: string;
}

/** Where the proxy hands finished events. The pipeline's implementation never blocks the caller. */
export interface EventSink {
  emit(event: AccessEvent): void;
  /** resolves when every event emitted so far is durable (in the stream or the spool) */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Keeps events in memory: for tests and for tools that inspect what would be emitted. */
export class MemorySink implements EventSink {
  readonly events: AccessEvent[] = [];
  emit(event: AccessEvent): void {
    this.events.push(event);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
