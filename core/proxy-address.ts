import type { Config } from './config/schema.ts';
import { isWildcard } from './console-url.ts';

// The names browsers use to reach the proxy: what the PAC file lists and what the TLS listener's
// certificate (proxy.tlsPort) must name. One derivation for both, so the PAC file never offers an
// HTTPS proxy under a name its certificate does not carry.

/** Host of a host:port entry, without IPv6 brackets. */
function hostOf(entry: string): string {
  return entry.replace(/:\d{1,5}$/, '').replace(/^\[|\]$/g, '');
}

/** proxy.bind, unless it is a wildcard: then the console's public host, else 127.0.0.1. */
export function defaultProxyHost(config: Config): string {
  if (!isWildcard(config.proxy.bind)) return config.proxy.bind;
  return config.console.publicUrl ? new URL(config.console.publicUrl).hostname.replace(/^\[|\]$/g, '') : '127.0.0.1';
}

/** Every proxy host the PAC file names: pac.proxies' hosts, else the default host. */
export function proxyHosts(config: Config): string[] {
  const hosts = config.pac.proxies.length > 0 ? config.pac.proxies.map(hostOf) : [defaultProxyHost(config)];
  return [...new Set(hosts)];
}

/** The TLS listener certificate's names: proxy.tlsNames, else every proxy host the PAC file names. */
export function proxyTlsNames(config: Config): string[] {
  return config.proxy.tlsNames.length > 0 ? config.proxy.tlsNames : proxyHosts(config);
}
