import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { normaliseHost } from './host.ts';

// Which HTTPS tunnels are opened with the organisation CA (policy.inspect) and which never are
// (policy.neverInspect, plus the shipped health and medical list). Pure: the caller gives the host
// and every category the lists put it in. Never wins over everything, so a bank that is also a
// download site, or a health service on a file host's subdomain, stays closed.

export const HEALTH_LIST_PATH = join(import.meta.dirname, 'never-inspect-health.txt');

export type InspectVerdict =
  | { inspect: true; why: string }
  | { inspect: false; why: string };

/** The shipped health list: one host a line, `#` comments; a line that is not a host name is an error naming it. */
export function loadHealthList(path = HEALTH_LIST_PATH): string[] {
  const out: string[] = [];
  readFileSync(path, 'utf8').split(/\r?\n/).forEach((line, i) => {
    const text = line.replace(/#.*/, '').trim();
    if (!text) return;
    const h = normaliseHost(text);
    if (!h) throw new Error(`${path}:${i + 1}: "${text.slice(0, 80)}" is not a host name`);
    out.push(h.host);
  });
  return out;
}

/** Host set matching a name and every subdomain (walks the labels, so a lookup costs a few Set probes). */
class HostSuffixSet {
  private readonly hosts: Set<string>;
  constructor(hosts: readonly string[]) {
    this.hosts = new Set(hosts);
  }
  get size(): number {
    return this.hosts.size;
  }
  match(host: string, ip: boolean): string | null {
    if (ip) return this.hosts.has(host) ? host : null;
    for (let h = host; ; ) {
      if (this.hosts.has(h)) return h;
      const dot = h.indexOf('.');
      if (dot < 0) return null;
      h = h.slice(dot + 1);
    }
  }
}

export class InspectionRules {
  readonly inspectCategories: ReadonlySet<string>;
  readonly neverCategories: ReadonlySet<string>;
  private readonly inspectHosts: HostSuffixSet;
  private readonly neverHosts: HostSuffixSet;
  private readonly health: HostSuffixSet;

  constructor(policy: Pick<Config['policy'], 'inspect' | 'neverInspect'>, healthList: readonly string[] = policy.neverInspect.healthList ? loadHealthList() : []) {
    this.inspectCategories = new Set(policy.inspect.categories);
    this.neverCategories = new Set(policy.neverInspect.categories);
    this.inspectHosts = new HostSuffixSet(policy.inspect.hosts);
    this.neverHosts = new HostSuffixSet(policy.neverInspect.hosts);
    this.health = new HostSuffixSet(healthList);
  }

  /** Nothing could ever be inspected (no category, no host): callers skip the category lookup. */
  get empty(): boolean {
    return this.inspectCategories.size === 0 && this.inspectHosts.size === 0;
  }

  /** Health hosts shipped and in force (for the transparency page). */
  get healthHosts(): number {
    return this.health.size;
  }

  verdict(rawHost: string, categories: readonly string[]): InspectVerdict {
    const n = normaliseHost(rawHost);
    const host = n?.host ?? rawHost.toLowerCase();
    const ip = n !== null && n.kind !== 'domain';
    const never = this.neverHosts.match(host, ip);
    if (never) return { inspect: false, why: `policy.neverInspect.hosts: ${never}` };
    const health = this.health.match(host, ip);
    if (health) return { inspect: false, why: `health list: ${health}` };
    const neverCat = categories.find((c) => this.neverCategories.has(c));
    if (neverCat) return { inspect: false, why: `policy.neverInspect.categories: ${neverCat}` };
    const hostHit = this.inspectHosts.match(host, ip);
    if (hostHit) return { inspect: true, why: `policy.inspect.hosts: ${hostHit}` };
    const cat = categories.find((c) => this.inspectCategories.has(c));
    if (cat) return { inspect: true, why: `policy.inspect.categories: ${cat}` };
    return { inspect: false, why: 'not in policy.inspect' };
  }
}
