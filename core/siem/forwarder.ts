import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { counter, gauge } from '../metrics.ts';
import { formatSyslog, octetFrame, type SyslogMessage } from './rfc5424.ts';
import { subscribeSiem, type SiemEvent } from './events.ts';

// Sends SIEM events as RFC 5424 syslog: TLS (RFC 5425) or plain TCP with octet-counting framing
// (RFC 6587), or UDP one message a datagram (RFC 5426) for a local collector. Publishing only
// appends to a bounded queue; a full queue drops the newest and counts it, so a slow or absent
// SIEM never holds the console or the proxy. Reconnects with a capped back-off.

export interface SyslogTarget {
  transport: 'tls' | 'tcp' | 'udp';
  host: string;
  port: number;
}

export interface SyslogSettings {
  url: string;
  ca?: string | undefined;
  facility: number;
  queueMax: number;
  /** the HOSTNAME field; default the machine's name */
  hostname?: string | undefined;
  enterpriseId: number;
}

export function parseSyslogUrl(url: string): SyslogTarget {
  const m = /^(tls|tcp|udp):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(url);
  if (!m) throw new Error(`siem.syslog.url: expected tls://host:port, tcp://host:port or udp://host:port, got ${JSON.stringify(url)}`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`siem.syslog.url: port ${port} is out of range`);
  return { transport: m[1] as SyslogTarget['transport'], host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

const sent = counter('fairwatch_siem_sent_total', 'syslog messages handed to the SIEM connection', ['kind']);
const dropped = counter('fairwatch_siem_dropped_total', 'SIEM messages dropped (queue full, or too long for a datagram)', ['reason']);
const queued = gauge('fairwatch_siem_queue', 'SIEM messages waiting to be sent');

const SEVERITY = { warning: 4, notice: 5, info: 6 } as const;

/** One SIEM event as a syslog message: the audit row's own fields, or the security event's. */
export function toSyslog(e: SiemEvent, s: Pick<SyslogSettings, 'facility' | 'enterpriseId'> & { hostname: string; procId: string }): SyslogMessage {
  const base = { facility: s.facility, hostname: s.hostname, appName: 'fairwatch', procId: s.procId };
  if (e.kind === 'audit') {
    const r = e.row;
    return {
      ...base, tsMs: r.tsMs, msgId: 'audit',
      severity: r.outcome.startsWith('refused') || r.outcome.startsWith('fail') ? SEVERITY.warning : SEVERITY.notice,
      sd: { [`audit@${s.enterpriseId}`]: { seq: r.seq, actor: r.actor, role: r.actorRole, action: r.action, target: r.target, outcome: r.outcome, hash: r.hash } },
      msg: r.reason,
    };
  }
  return {
    ...base, tsMs: e.tsMs, msgId: 'security', severity: SEVERITY.warning,
    sd: { [`security@${s.enterpriseId}`]: { event: e.event, src: e.src } },
    msg: e.detail,
  };
}

export class SyslogForwarder {
  private readonly target: SyslogTarget;
  private readonly ca: Buffer | undefined;
  private readonly queue: Array<{ frame: Buffer; kind: SiemEvent['kind'] }> = [];
  private socket: Socket | null = null;
  /** the connection being made (closed on shutdown so it cannot hold the process) */
  private pending: Socket | null = null;
  private udp: UdpSocket | null = null;
  private connecting = false;
  private writing = false;
  private closed = false;
  private backoffMs = 500;
  private retry: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;
  private readonly hostname: string;

  constructor(private readonly settings: SyslogSettings, private readonly onProblem: (msg: string) => void = () => undefined) {
    this.target = parseSyslogUrl(settings.url);
    try {
      this.ca = settings.ca ? readFileSync(settings.ca) : undefined;
    } catch (e) {
      throw new Error(`siem.syslog.ca: cannot read ${settings.ca}: ${(e as Error).message}`);
    }
    this.hostname = settings.hostname ?? osHostname();
    this.unsubscribe = subscribeSiem((e) => this.publish(e));
  }

  get queueLength(): number {
    return this.queue.length;
  }

  publish(e: SiemEvent): void {
    if (this.closed) return;
    const text = formatSyslog(toSyslog(e, { ...this.settings, hostname: this.hostname, procId: String(process.pid) }));
    const frame = this.target.transport === 'udp' ? Buffer.from(text, 'utf8') : octetFrame(text);
    if (this.target.transport === 'udp' && frame.length > 65_000) {
      dropped.inc({ reason: 'too-long' });
      return;
    }
    if (this.queue.length >= this.settings.queueMax) {
      dropped.inc({ reason: 'queue-full' });
      return;
    }
    this.queue.push({ frame, kind: e.kind });
    queued.set(this.queue.length);
    this.pump();
  }

  private pump(): void {
    if (this.closed || this.writing || this.queue.length === 0) return;
    if (this.target.transport === 'udp') return this.pumpUdp();
    if (!this.socket) return this.connect();
    this.writing = true;
    const sock = this.socket;
    // one write at a time: a frame leaves the queue only once the socket took it
    const item = this.queue[0]!;
    sock.write(item.frame, (err) => {
      this.writing = false;
      if (err || sock !== this.socket) return;
      this.queue.shift();
      queued.set(this.queue.length);
      sent.inc({ kind: item.kind });
      this.pump();
    });
  }

  private pumpUdp(): void {
    if (!this.udp) {
      this.udp = createSocket(isIP(this.target.host) === 6 ? 'udp6' : 'udp4');
      this.udp.on('error', (e) => this.onProblem(`siem syslog (udp): ${e.message}`));
      this.udp.unref();
    }
    this.writing = true;
    const item = this.queue.shift()!;
    queued.set(this.queue.length);
    this.udp.send(item.frame, this.target.port, this.target.host, (err) => {
      this.writing = false;
      if (err) this.onProblem(`siem syslog (udp): ${err.message}`);
      else sent.inc({ kind: item.kind });
      this.pump();
    });
  }

  private connect(): void {
    if (this.connecting || this.retry || this.closed) return;
    this.connecting = true;
    const { host, port, transport } = this.target;
    const sock = transport === 'tls'
      ? tlsConnect({ host, port, ...(this.ca ? { ca: this.ca } : {}), ...(isIP(host) ? {} : { servername: host }) })
      : netConnect({ host, port });
    this.pending = sock;
    // never holds the process open; a collector that does not answer is given up after a while
    sock.unref();
    sock.setKeepAlive(true, 30_000);
    sock.setTimeout(15_000, () => { if (this.pending === sock) sock.destroy(new Error('no answer within 15 s')); });
    const ready = () => {
      this.connecting = false;
      this.pending = null;
      sock.setTimeout(0);
      this.backoffMs = 500;
      this.socket = sock;
      this.pump();
    };
    sock.once(transport === 'tls' ? 'secureConnect' : 'connect', ready);
    // a collector never answers on this stream; data from it is ignored
    sock.on('data', () => undefined);
    sock.on('error', (e) => this.onProblem(`siem syslog ${transport}://${host}:${port}: ${e.message}`));
    sock.on('close', () => {
      if (this.pending === sock) this.pending = null;
      this.connecting = false;
      this.writing = false;
      if (this.socket === sock) this.socket = null;
      if (this.closed) return;
      this.retry = setTimeout(() => { this.retry = null; this.pump(); }, this.backoffMs);
      this.retry.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
  }

  /** Waits (bounded) for the queue to be written (a short-lived CLI process may still be connecting), then closes. */
  async close(waitMs = 2000): Promise<void> {
    const until = Date.now() + waitMs;
    while (this.queue.length > 0 && (this.socket || this.connecting) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    this.unsubscribe();
    if (this.retry) clearTimeout(this.retry);
    this.socket?.end();
    this.socket = null;
    this.pending?.destroy();
    this.pending = null;
    this.udp?.close();
    this.udp = null;
  }
}

/** The forwarder for `siem.syslog`, or null when none is configured. */
export function syslogFromConfig(cfg: { siem: { syslog?: { url: string; ca?: string | undefined; facility: number; queueMax: number; hostname?: string | undefined; enterpriseId: number } | undefined } }, onProblem: (msg: string) => void): SyslogForwarder | null {
  const s = cfg.siem.syslog;
  return s ? new SyslogForwarder(s, onProblem) : null;
}
