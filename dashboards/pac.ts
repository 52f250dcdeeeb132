import type { Config } from '../core/config/schema.ts';
import { isValidCidr } from '../core/net/cidr.ts';
import { defaultProxyHost } from '../core/proxy-address.ts';
import { FairwatchError } from '../core/errors.ts';

// /proxy.pac and /wpad.dat: the proxy auto-config file browsers fetch (by URL, by DHCP option 252
// or by the DNS name wpad.<domain>) to find the proxies. Pure: config in, JavaScript text out.
//
// Why it looks the way it does:
// - no DNS lookups (dnsResolve, isResolvable, isInNet on a name): they block the browser on every
//   request; CIDR bypass entries therefore only match URLs that use an IP literal;
// - plain host names (no dot) and the console itself always go direct, so staff can always reach
//   the block, AUP and sign-in pages;
// - several proxies: each site is sent to one of them by a stable hash of its host (spreads load,
//   keeps a site's cookies and keep-alive on one proxy) and the others follow as fallback;
// - no DIRECT fallback unless asked for: the policy says every visit is recorded.

export interface PacOptions {
  /** host:port of each proxy, in order of preference */
  proxies: string[];
  /** host names, *.domain patterns or CIDRs that go direct */
  bypass: string[];
  spread: boolean;
  directFallback: boolean;
  /**
   * proxy.tlsPort: each proxy is offered first as an HTTPS proxy on this port (credentials
   * encrypted), with the plain port as the fallback for browsers or networks where TLS fails;
   * unset for an ephemeral tlsPort (0, tests), which has no port to publish
   */
  tlsPort?: number;
}

export class PacError extends FairwatchError {
  constructor(message: string) {
    super('FW_PAC', message);
  }
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const DOMAIN_PATTERN = /^(?:\*\.)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/;

/** Derives the PAC options from config: `pac.*`, else the proxy listener and the console's public host. */
export function pacOptionsFromConfig(config: Config): PacOptions {
  let proxies = config.pac.proxies;
  if (proxies.length === 0) {
    const host = defaultProxyHost(config);
    proxies = [`${host.includes(':') ? `[${host}]` : host}:${config.proxy.port}`];
  }
  const bypass = [...config.pac.bypass];
  if (config.console.publicUrl) bypass.push(new URL(config.console.publicUrl).hostname.replace(/^\[|\]$/g, ''));
  return { proxies, bypass, spread: config.pac.spread, directFallback: config.pac.directFallback, tlsPort: config.proxy.tlsPort || undefined };
}

interface BypassSets { hosts: string[]; suffixes: string[]; nets: Array<[string, string]> }

function classify(bypass: string[]): BypassSets {
  const sets: BypassSets = { hosts: [], suffixes: [], nets: [] };
  for (const raw of bypass) {
    const entry = raw.trim().toLowerCase();
    if (isValidCidr(entry)) {
      if (entry.includes(':')) continue; // PAC's isInNet is IPv4 only; IPv6 literals go through the proxy
      const [ip, bitsText] = entry.split('/');
      const bits = bitsText === undefined ? 32 : Number(bitsText);
      sets.nets.push([ip!, maskOf(bits)]);
    } else if (entry.startsWith('*.') && DOMAIN_PATTERN.test(entry)) {
      sets.suffixes.push(entry.slice(1));
    } else if (entry.startsWith('.') && DOMAIN_PATTERN.test(entry.slice(1))) {
      sets.suffixes.push(entry);
    } else if (DOMAIN_PATTERN.test(entry)) {
      sets.hosts.push(entry.replace(/\.$/, ''));
    } else {
      throw new PacError(`pac.bypass: "${raw}" is not a host name, *.domain pattern or IPv4 CIDR`);
    }
  }
  return sets;
}

function maskOf(bits: number): string {
  const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join('.');
}

/** The PAC file text (FindProxyForURL) for the options. */
export function renderPac(opts: PacOptions): string {
  if (opts.proxies.length === 0) throw new PacError('pac.proxies: at least one proxy (host:port) is needed');
  for (const p of opts.proxies) {
    const m = HOST_PORT.exec(p);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new PacError(`pac.proxies: "${p}" is not host:port`);
  }
  const b = classify(opts.bypass);
  const list = (xs: unknown[]) => JSON.stringify(xs);
  const lines = [
    '// fairwatch proxy auto-config. Generated from the fairwatch configuration; do not edit by hand.',
    'function FindProxyForURL(url, host) {',
    '  host = host.toLowerCase();',
    '  if (isPlainHostName(host) || host === "localhost" || /^127\\./.test(host) || host === "::1" || host === "[::1]") return "DIRECT";',
    `  var hosts = ${list(b.hosts)};`,
    '  for (var i = 0; i < hosts.length; i++) if (host === hosts[i]) return "DIRECT";',
    `  var suffixes = ${list(b.suffixes)};`,
    '  for (var j = 0; j < suffixes.length; j++) if (dnsDomainIs(host, suffixes[j]) || host === suffixes[j].slice(1)) return "DIRECT";',
    `  var nets = ${list(b.nets)};`,
    '  // only IP literals: resolving names here would stall the browser on every request',
    '  if (/^\\d{1,3}(\\.\\d{1,3}){3}$/.test(host)) {',
    '    for (var k = 0; k < nets.length; k++) if (isInNet(host, nets[k][0], nets[k][1])) return "DIRECT";',
    '  }',
    `  var proxies = ${list(opts.proxies.map((p) => `PROXY ${p}`))};`,
    `  var secure = ${list(opts.tlsPort ? opts.proxies.map((p) => `HTTPS ${p.replace(/:\d{1,5}$/, `:${opts.tlsPort}`)}`) : [])};`,
  ];
  if (opts.spread && opts.proxies.length > 1) {
    lines.push(
      '  var h = 0;',
      '  for (var c = 0; c < host.length; c++) h = (h * 31 + host.charCodeAt(c)) % 1000003;',
      '  var first = h % proxies.length;',
      '  proxies = proxies.slice(first).concat(proxies.slice(0, first));',
      '  if (secure.length) secure = secure.slice(first).concat(secure.slice(0, first));',
    );
  }
  lines.push(
    '  // the HTTPS proxies first (credentials encrypted on the network), then the plain ones',
    `  return secure.concat(proxies).join("; ")${opts.directFallback ? ' + "; DIRECT"' : ''};`,
    '}',
    '',
  );
  return lines.join('\n');
}

export const PAC_CONTENT_TYPE = 'application/x-ns-proxy-autoconfig';
