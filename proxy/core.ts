import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Config } from '../core/config/schema.ts';
import type { EventSink } from '../core/events/event.ts';
import type { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { CidrSet } from '../core/net/cidr.ts';
import { configuredConsoleUrl } from '../core/console-url.ts';
import type { Decision, PolicyEngine } from '../core/policy/types.ts';
import type { DecisionContext, ResponseHooks } from './response-hooks.ts';
import type { CredentialStore } from './credentials.ts';
import { DestinationGuard } from './destination-guard.ts';
import { EventBuilder } from './event-builder.ts';
import { Identifier, type Identity, type IdentifyResult } from './identify.ts';
import { RequestError } from './request-error.ts';
import { ScanGuard } from './scan-guard.ts';
import { safeSearchHost, safeSearchMode } from '../core/policy/safe-search.ts';
import type { OwnPagesOptions } from './own-pages.ts';
import { HostsSource } from './hosts-source.ts';
import { Resolver, type LookupFn } from './resolve.ts';
import type { SignInGate } from './tls/sign-in-gate.ts';
import type { StaffPages } from '../core/pages/index.ts';
import type { LeafMinter } from '../core/tls/leaf.ts';
import { InspectionRules } from '../core/policy/inspection.ts';
import { UntrustedCaClients } from './tls/untrusted-ca.ts';
import { ClamdClient } from './virus-scan.ts';
import { securityEvent } from '../core/siem/events.ts';

// What every request path shares: admission, identification, the policy, the destination check.
// forward.ts, tunnel.ts and upgrade.ts each take one path through these steps.

export interface ProxyServerOptions {
  config: Config;
  /** the current policy snapshot (swapped on reload); default allow-all */
  engine: () => PolicyEngine;
  sink: EventSink;
  credentials: CredentialStore;
  pseudonyms: Pseudonymiser;
  /** DNS lookup (tests inject one so no real query is made) */
  lookup?: LookupFn;
  /** pages answered after a decision (the worker gives proxy/tls/staff-hooks.ts) */
  hooks: ResponseHooks;
  /** identity.signInNetworks: devices bound at the console browse as that person, others go to sign-in */
  signIn?: SignInOptions;
  /**
   * The console as browsers reach it (given the proxy's address on the connection): requests for it
   * are passed without the gate, sign-in or policy. Default: from the config.
   */
  consoleUrl?: (proxyAddress?: string) => string;
  /** the organisation CA's certificate, offered at http://fairwatch.internal/ca.crt; null or absent without one */
  caCertPem?: string | null;
  /** where a problem that does not stop the proxy is told (a broken hosts-file edit) */
  log?: (message: string) => void;
  /** ports of fairwatch's own services on this machine (managed Redis, metrics) the guard never opens */
  servicePorts?: number[];
  /** a minute of use of a quota category (the caller counts it across processes) */
  recordUse?: (user: string, category: string, at: Date) => void;
  /**
   * HTTPS inspection (policy.inspect): the organisation CA's leaf minter (null or absent: no tunnel
   * is ever opened) and the record of devices that refused the CA (default: this process only).
   */
  inspection?: { minter: LeafMinter | null; untrusted?: UntrustedCaClients };
  /** scan.enabled without scan.clamd: the managed clamd's socket (managed-clamd.ts) */
  clamdSocket?: string;
}

/** scan.enabled: downloads go through clamd (download-scan.ts) */
export interface Scanner {
  client: ClamdClient;
  maxBytes: number;
  holdBytes: number;
  onError: 'allow' | 'block';
}

export interface Inspection {
  rules: InspectionRules;
  minter: LeafMinter;
  untrusted: UntrustedCaClients;
}

export interface SignInOptions {
  gate: SignInGate;
  /** the staff pages (the sign-in link points at the console); the proxy's address on the connection */
  pages: (proxyAddress?: string) => StaffPages;
  /** the organisation CA's leaf minter: the sign-in page inside HTTPS; null → 403 naming the link */
  minter: LeafMinter | null;
}

type Unidentified = Extract<IdentifyResult, { identity: null }>;

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
  query: string;
  url: string;
}

export class ProxyCore {
  readonly config: Config;
  readonly hooks: ResponseHooks;
  readonly engine: () => PolicyEngine;
  readonly clientNetworks: CidrSet;
  readonly connectPorts: Set<number>;
  /** identity.oidc: the providers' issuer hosts and signInHosts */
  private readonly providerHosts: Set<string>;
  /** proxy.ipTunnels: requests to bare IP addresses */
  private readonly ipTunnels: 'refuse' | 'allow' | CidrSet;
  readonly identifier: Identifier;
  readonly resolver: Resolver;
  private guard: DestinationGuard;
  private readonly selfPorts: number[];
  readonly upstreamTimeoutMs: number;
  readonly idleTimeoutMs: number;
  private readonly pseudonyms: Pseudonymiser;
  private readonly scans = new ScanGuard();
  /** user|category → the last minute this process counted for it (one count a minute is enough) */
  private readonly counted = new Map<string, number>();
  private readonly consoleUrl: (proxyAddress?: string) => string;
  readonly ownPages: OwnPagesOptions;
  /** null without an organisation CA or with nothing to inspect: every allowed tunnel is spliced */
  readonly inspection: Inspection | null;
  /** null unless scan.enabled */
  readonly scanner: Scanner | null;

  constructor(private readonly opts: ProxyServerOptions) {
    this.pseudonyms = opts.pseudonyms;
    const cfg = opts.config;
    this.config = cfg;
    this.engine = opts.engine;
    this.clientNetworks = new CidrSet(cfg.proxy.clientNetworks);
    this.connectPorts = new Set(cfg.proxy.connectPorts);
    this.providerHosts = new Set(cfg.identity.oidc.flatMap((p) => [new URL(p.issuer).hostname.toLowerCase(), ...p.signInHosts]));
    this.ipTunnels = Array.isArray(cfg.proxy.ipTunnels) ? new CidrSet(cfg.proxy.ipTunnels) : cfg.proxy.ipTunnels;
    this.identifier = new Identifier({ guestNetworks: cfg.identity.guestNetworks, ipUsers: cfg.identity.ipUsers, defaultGroup: cfg.policy.defaultGroup }, opts.credentials);
    this.resolver = new Resolver(opts.lookup, cfg.proxy.hostsFile ? new HostsSource(cfg.proxy.hostsFile, opts.log) : null);
    this.selfPorts = [cfg.proxy.port, cfg.proxy.tlsPort ?? 0, cfg.console.port, cfg.metrics.port ?? 0, ...(opts.servicePorts ?? [])].filter((p) => p > 0);
    this.guard = this.makeGuard();
    this.upstreamTimeoutMs = cfg.proxy.upstreamTimeoutSeconds * 1000;
    this.idleTimeoutMs = cfg.proxy.idleTimeoutSeconds * 1000;
    const consoleUrl = configuredConsoleUrl(cfg);
    this.consoleUrl = opts.consoleUrl ?? (() => consoleUrl);
    this.ownPages = { config: cfg, consoleUrl: this.consoleUrl, caCertPem: opts.caCertPem ?? null };
    this.hooks = opts.hooks;
    const minter = opts.inspection?.minter ?? null;
    const rules = minter ? new InspectionRules(cfg.policy) : null;
    this.inspection = minter && rules && !rules.empty
      ? { rules, minter, untrusted: opts.inspection?.untrusted ?? new UntrustedCaClients({ minutes: cfg.proxy.untrustedCaMinutes, pseudonym: (ip) => this.pseudonyms.client(ip) }) }
      : null;
    this.scanner = scannerFor(cfg, opts.clamdSocket);
  }

  /** Every category the lists put a host in (the decision's own when the engine cannot say). */
  categoriesOf(host: string, decided: string): string[] {
    const engine = this.engine();
    const all = engine.categoriesOf ? engine.categoriesOf(host) : [];
    return decided && !all.includes(decided) ? [decided, ...all] : all;
  }

  /** The console's own address (as its links name it): fairwatch's pages, not the internet. */
  isOwnPage(target: Target, proxyAddress?: string): boolean {
    const own = this.ownOrigin(this.consoleUrl(proxyAddress));
    return own !== null && target.port === own.port && target.host === own.host && own.https === (target.scheme === 'https');
  }

  private ownParsed: { url: string; origin: { host: string; port: number; https: boolean } | null } = { url: '', origin: null };

  /** The console URL's host, port and scheme (parsed once per distinct URL). */
  private ownOrigin(raw: string): { host: string; port: number; https: boolean } | null {
    if (this.ownParsed.url === raw) return this.ownParsed.origin;
    let origin: { host: string; port: number; https: boolean } | null = null;
    try {
      const url = new URL(raw);
      const https = url.protocol === 'https:';
      origin = { host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port: Number(url.port) || (https ? 443 : 80), https };
    } catch {
      origin = null;
    }
    this.ownParsed = { url: raw, origin };
    return origin;
  }

  /** The console's address to dial: resolved like any name, but the guard's self-port rule does not apply to it. */
  async ownAddress(target: Target): Promise<string> {
    const addresses = await this.resolver.resolve(target.host);
    if (addresses.length === 0) throw new RequestError(502, 'FW_DNS_FAILED', `the console's name ${target.host} has no address`, 'dns-failed');
    return addresses[0]!;
  }

  /** Counts a minute of use for a quota category (once a minute per person and category in this process). */
  countUse(ev: EventBuilder, ctx: DecisionContext): void {
    const d = ctx.decision;
    const user = ctx.identity.user;
    if (d.quotaMinutesPerDay === undefined || d.action === 'block' || !user || !this.opts.recordUse) return;
    const at = new Date();
    const minute = Math.floor(at.getTime() / 60_000);
    const key = `${user}|${d.category}`;
    if (this.counted.get(key) === minute) return;
    if (this.counted.size > 50_000) this.counted.clear();
    this.counted.set(key, minute);
    ev.flag('quota');
    this.opts.recordUse(user, d.category, at);
  }

  private makeGuard(): DestinationGuard {
    const local = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
    return new DestinationGuard({
      allowDestinations: this.config.proxy.allowDestinations,
      selfPorts: this.selfPorts,
      selfAddresses: [...local, this.config.proxy.bind],
    });
  }

  /** Once listening: the actual port (0 in the config means "any free one") is part of "itself". */
  listeningOn(port: number): void {
    if (!this.selfPorts.includes(port)) {
      this.selfPorts.push(port);
      this.guard = this.makeGuard();
    }
  }

  beginEvent(socket: import('node:net').Socket, method: string): EventBuilder {
    return new EventBuilder({ sink: this.opts.sink, pseudonyms: this.pseudonyms, storeQueryStrings: this.config.retention.storeQueryStrings }, socket, method);
  }

  /** Only configured client networks may use the proxy (not an open proxy). */
  admit(ev: EventBuilder): void {
    if (!this.clientNetworks.has(ev.clientIp)) {
      ev.action = 'denied-client';
      ev.rule = 'proxy.clientNetworks';
      securityEvent('proxy-denied-client', ev.clientIp, 'a client outside proxy.clientNetworks was refused');
      throw new RequestError(403, 'FW_CLIENT_DENIED', 'This computer is not on a network allowed to use the proxy (proxy.clientNetworks).', 'client-denied');
    }
  }

  /** Identity, or null after marking the event as needing authentication. */
  identify(ev: EventBuilder, proxyAuthorization: string | undefined): Identity | null | Promise<Identity | null> {
    // no promise when nothing has to be waited for (no credentials to check, no sign-in to look up)
    const r = this.identifier.identify(ev.clientIp, proxyAuthorization);
    if (r instanceof Promise) return r.then((known) => this.identified(ev, known));
    return this.identified(ev, r);
  }

  private identified(ev: EventBuilder, r: IdentifyResult): Identity | null | Promise<Identity | null> {
    if (r.identity) {
      ev.identity = r.identity;
      return r.identity;
    }
    if (this.opts.signIn?.gate.covers(ev.clientIp)) return this.signedIn(ev, r);
    return this.unidentified(ev, r);
  }

  /** identity.signInNetworks: the person this device is bound to at the console, if any. */
  private async signedIn(ev: EventBuilder, r: Unidentified): Promise<Identity | null> {
    const bound = await this.opts.signIn!.gate.identify(ev.clientIp);
    if (bound) {
      const identity: Identity = { user: bound.user, group: bound.group, how: 'sign-in' };
      ev.identity = identity;
      return identity;
    }
    return this.unidentified(ev, r);
  }

  /** Nobody: the event says why (offered credentials refused, throttled, the directory away). */
  private unidentified(ev: EventBuilder, r: Unidentified): null {
    ev.action = 'auth-required';
    if (r.badCredentials) ev.flag('bad-credentials');
    if (r.refused && r.refused !== 'bad-credentials') ev.flag(r.refused);
    if (r.refused === 'auth-throttled') securityEvent('proxy-auth-throttled', ev.clientIp, 'proxy credentials refused after repeated failures');
    return null;
  }

  /**
   * An unidentified browser on a sign-in network may open HTTPS tunnels to the organisation's OpenID
   * provider (identity.oidc issuers and signInHosts), or "Sign in with …" on the sign-in page could
   * never load the provider's page. Only tunnels (the provider is HTTPS), still under the policy and
   * the destination guard, recorded as the device (no person) in the group "sign-in".
   */
  signInProviderPass(ev: EventBuilder, target: Target): Identity | null {
    if (!this.providerHosts.has(target.host.toLowerCase()) || !this.opts.signIn?.gate.covers(ev.clientIp)) return null;
    const identity: Identity = { user: null, group: 'sign-in', how: 'sign-in-provider' };
    ev.identity = identity;
    // identify() marked it auth-required; the policy decision sets the action from here
    ev.action = 'error';
    ev.flag('sign-in-provider');
    return identity;
  }

  /**
   * Unidentified plain HTTP on a sign-in network: a 407 there cannot be answered (no proxy
   * password on shared devices), so the browser goes to the console's sign-in page. False elsewhere.
   */
  answerSignInHttp(ev: EventBuilder, res: import('node:http').ServerResponse, target: Target): boolean {
    const s = this.opts.signIn;
    if (!s?.gate.covers(ev.clientIp)) return false;
    ev.rule = 'sign-in';
    const url = target.url + (target.query ? `?${target.query}` : '');
    s.gate.answerHttp(res, s.pages(res.req.socket.localAddress), { eventId: ev.id, url, at: new Date() }, ev.clientIp);
    return true;
  }

  /** The same for CONNECT: the sign-in page over TLS (with a CA) or a 403 naming the link; null elsewhere. */
  answerSignInConnect(ev: EventBuilder, socket: import('node:stream').Duplex, head: Buffer, target: Target): number | null {
    const s = this.opts.signIn;
    if (!s?.gate.covers(ev.clientIp)) return null;
    ev.rule = 'sign-in';
    return s.gate.answerConnect(socket, head, s.pages((socket as import('node:net').Socket).localAddress), { eventId: ev.id, host: target.host, at: new Date() }, ev.clientIp, s.minter);
  }

  /**
   * proxy.ipTunnels: a request to a bare IP address (CONNECT or a plain http:// URL, the host already
   * normalised by the URL parser, so 2130706433 and 0x7f.1 are 127.0.0.1 here) passes the category
   * lists, which name sites; refused unless the setting allows it. The event says why.
   */
  checkIpLiteral(ev: EventBuilder, target: Target, proxyAddress: string | undefined): void {
    // the console reached by its address (console.publicUrl https://192.0.2.5/) is fairwatch's own
    if (isIP(target.host) === 0 || this.isOwnPage(target, proxyAddress)) return;
    const rule = this.ipTunnels;
    if (rule === 'allow' || (rule instanceof CidrSet && rule.has(target.host))) return;
    ev.action = 'block';
    ev.rule = 'proxy.ipTunnels';
    const how = rule === 'refuse' ? 'proxy.ipTunnels is refuse' : 'the address is not in proxy.ipTunnels';
    throw new RequestError(403, 'FW_IP_REFUSED', `Sites are reached here by name, not by a bare IP address (${target.host}): the address would pass the site categories unchecked, so it is refused (${how}). Use the site's name; if this address is needed, ask IT to add it to proxy.ipTunnels.`, 'ip-tunnel');
  }

  decide(ev: EventBuilder, identity: Identity, target: Target, method: string): DecisionContext {
    let decision: Decision;
    try {
      decision = this.engine().decide({
        user: identity.user, group: identity.group, method, scheme: target.scheme,
        // the query too: URL entries such as forumdisplay.php?f=13 and expressions look at it
        host: target.host, port: target.port, path: target.path, query: target.query, at: new Date(),
      });
    } catch (e) {
      // A policy bug must not stop browsing or go unrecorded.
      decision = { action: 'allow', category: '', rule: 'policy-error', reason: (e as Error).message };
      ev.flag('policy-error');
    }
    ev.setDecision(decision);
    return { eventId: ev.id, identity, clientIp: ev.clientIp, decision, target };
  }

  /** A connection to the target failed: counted towards the client's port-scan limit. */
  dialFailed(ev: EventBuilder, target: Target): void {
    this.scans.failed(ev.clientIp, target.host, target.port);
  }

  /** Resolves the host and checks every address; returns the one to dial. */
  async destination(ev: EventBuilder, target: Target): Promise<string> {
    if (this.scans.refused(ev.clientIp, target.port)) {
      ev.action = 'block';
      ev.rule = 'port-scan';
      throw new RequestError(403, 'FW_DESTINATION_REFUSED', 'Too many connections from this computer failed on different ports: ports other than 80 and 443 are refused for a while.', 'port-scan');
    }
    // policy.safeSearch: the engine's enforced address instead of its ordinary one (as DNS-based
    // enforcement does); the request itself, and the TLS inside a tunnel, stay as they are
    const safe = safeSearchHost(target.host, safeSearchMode(this.config.policy.safeSearch, ev.identity?.group));
    if (safe) ev.flag('safe-search');
    const name = safe ?? target.host;
    // most names are answered from the cache: no promise to wait on for those
    const addresses = this.resolver.known(name) ?? await this.resolver.ask(name);
    const verdict = this.guard.check(name, target.port, addresses);
    if (!verdict.ok) {
      ev.action = 'block';
      ev.rule = 'destination-guard';
      throw new RequestError(403, 'FW_DESTINATION_REFUSED', verdict.reason, 'ssrf-refused');
    }
    return addresses[0]!;
  }

  setTarget(ev: EventBuilder, t: Target): void {
    ev.scheme = t.scheme;
    ev.host = t.host;
    ev.port = t.port;
    ev.path = t.path;
    ev.query = t.query;
  }
}

function scannerFor(cfg: Config, managedSocket: string | undefined): Scanner | null {
  const s = cfg.scan;
  if (!s.enabled) return null;
  const address = s.clamd ?? managedSocket;
  if (!address) throw new Error('scan.enabled is on but scan.clamd is unset and no managed clamd runs: set scan.clamd to a clamd socket or host:port');
  return {
    client: new ClamdClient(address, s.timeoutSeconds * 1000),
    maxBytes: Math.floor(s.maxMB * 1024 * 1024),
    holdBytes: s.holdKB * 1024,
    onError: s.onError,
  };
}

/** `http://host[:port]/path?q` (absolute-form, RFC 9112 §3.2.2); anything else is a 400. */
export function parseAbsoluteTarget(raw: string): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RequestError(400, 'FW_BAD_URI', `"${raw.slice(0, 200)}" is not a valid absolute URL`, 'malformed');
  }
  if (url.protocol !== 'http:') {
    throw new RequestError(400, 'FW_BAD_URI', `only http:// URLs are forwarded as plain requests (got ${url.protocol}); HTTPS goes through CONNECT`, 'malformed');
  }
  if (url.username || url.password) {
    throw new RequestError(400, 'FW_BAD_URI', 'URLs with a user name or password in them are not forwarded', 'malformed');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (!host) throw new RequestError(400, 'FW_BAD_URI', 'the URL has no host', 'malformed');
  const port = url.port ? Number(url.port) : 80;
  return { scheme: 'http', host, port, path: url.pathname || '/', query: url.search.replace(/^\?/, ''), url: `${url.protocol}//${url.host}${url.pathname}` };
}

/** CONNECT's `host:port` (authority-form, RFC 9112 §3.2.3). */
export function parseAuthority(raw: string): Target {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s/?#@[\]:]+):(\d{1,5})$/.exec(raw);
  if (!m) throw new RequestError(400, 'FW_BAD_URI', `CONNECT needs host:port, got "${raw.slice(0, 200)}"`, 'malformed');
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new RequestError(400, 'FW_BAD_URI', `CONNECT port ${m[2]} is out of range`, 'malformed');
  let host: string;
  try {
    // the URL parser normalises numeric and hex IPv4 forms (2130706433 → 127.0.0.1) before the guard
    host = new URL(`http://${m[1]}/`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    throw new RequestError(400, 'FW_BAD_URI', `CONNECT host "${m[1]!.slice(0, 200)}" is not valid`, 'malformed');
  }
  return { scheme: port === 80 ? 'http' : 'https', host, port, path: '', query: '', url: `${host}:${port}` };
}
