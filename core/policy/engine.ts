import { isIPv4 } from 'node:net';
import type { BandName, Config, Rule } from '../config/schema.ts';
import { hostWithin, normaliseHost } from './host.ts';
import { LOCAL_ALLOW, LOCAL_DENY, type CompiledLists } from './lists.ts';
import { BandClock } from './time-bands.ts';
import { continueMinutesOf, quotaMinutesOf } from './defaults.ts';
import type { Decision, DecisionInput, PersonState, PolicyAction, PolicyEngine } from './types.ts';
import { matchesSegment, matchesSquidGuard, urlKey, wwwPrefixLength, type UrlKey } from './url-rules.ts';

// The decision, as a pure function over an immutable snapshot (compiled lists + compiled rules).
// Precedence, highest first (docs/operators/policy.md "What decides"):
//   1. local deny     blocklists/local/deny             → block, rule 'local-deny'
//   2. exception      director-approved, unexpired      → allow, rule 'exception:<id>'
//   3. local allow    blocklists/local/allow            → allow, rule 'local-allow'
//   4. rules          first rule naming the person's group, the category and the band; when a
//                     site is in several categories the strictest outcome wins
//   5. default        policy.defaultAction              → rule 'default'

export type PolicyConfig = Config['policy'];

const SEVERITY: Record<PolicyAction, number> = { allow: 0, log: 1, warn: 2, quota: 3, block: 4 };
const BAND_INDEX: Record<BandName, number> = { working: 0, break: 1, 'out-of-hours': 2 };

interface CompiledRule {
  label: string;
  rule: Rule;
  severity: number;
}

const NO_STATE: PersonState = { exceptions: [], continues: new Map(), quotaMinutesUsed: new Map() };

/** A host that is already in normal form (lower-case ASCII name, no trailing dot) skips normaliseHost. */
function isPlainHost(h: string): boolean {
  if (h.length === 0 || h.charCodeAt(h.length - 1) === 46) return false;
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95)) return false;
  }
  return true;
}

export class PolicySnapshot implements PolicyEngine {
  readonly clock: BandClock;
  readonly warnings: string[] = [];
  private readonly groupIndex = new Map<string, number>();
  private readonly nGroups: number;
  private readonly nCats: number;
  /** [(group * 3 + band) * nCats + category] → index into `rules`, or -1 */
  private readonly ruleAt: Int16Array;
  private readonly rules: CompiledRule[];
  // reused between calls: decide() is synchronous and single-threaded
  private readonly matched: number[] = [];
  private readonly entries = new Uint32Array(128);

  constructor(readonly policy: PolicyConfig, readonly timezone: string, readonly lists: CompiledLists, readonly loadedAt = new Date()) {
    this.clock = new BandClock(timezone, policy.time);
    const groups = Object.keys(policy.groups);
    groups.forEach((g, i) => this.groupIndex.set(g, i));
    // one extra group for names not in policy.groups: only '*' rules apply to it
    this.nGroups = groups.length + 1;
    this.nCats = lists.categories.length;
    this.ruleAt = new Int16Array(this.nGroups * 3 * this.nCats).fill(-1);
    this.rules = policy.rules.map((rule, i) => ({ label: `rule:${rule.id ?? i + 1}`, rule, severity: SEVERITY[rule.action] }));
    this.rules.forEach((cr, ri) => {
      const { rule } = cr;
      const gIdx = rule.groups.includes('*') ? [...Array(this.nGroups).keys()] : rule.groups.map((g) => {
        const idx = this.groupIndex.get(g);
        if (idx === undefined) this.warnings.push(`policy.rules[${ri}] (${cr.label}): group "${g}" is not in policy.groups`);
        return idx;
      }).filter((x): x is number => x !== undefined);
      const cIdx = rule.categories.map((c) => {
        const idx = lists.byName.get(c);
        if (idx === undefined) this.warnings.push(`policy.rules[${ri}] (${cr.label}): category "${c}" is not in ${lists.stats.dir}`);
        return idx;
      }).filter((x): x is number => x !== undefined);
      for (const g of gIdx) for (const b of rule.bands) for (const c of cIdx) {
        const at = (g * 3 + BAND_INDEX[b]) * this.nCats + c;
        if (this.ruleAt[at] === -1) this.ruleAt[at] = ri; // first rule wins
      }
    });
  }

  /** Which rule (index) applies to a category for a group in a band, or -1. */
  private ruleFor(base: number, category: number): number {
    return this.ruleAt[base + category]!;
  }

  decide(input: DecisionInput): Decision {
    const band = this.clock.band(input.at);
    const g = this.groupIndex.get(input.group) ?? this.nGroups - 1;
    const base = (g * 3 + BAND_INDEX[band]) * this.nCats;
    let host = input.host;
    let ipLiteral = false;
    if (!isPlainHost(host)) {
      // tolerate a caller passing host:port (CONNECT authority) instead of the bare host
      const n = normaliseHost(host) ?? normaliseHost(host.replace(/:\d{1,5}$/, ''));
      host = n ? n.host : host.toLowerCase();
      ipLiteral = n !== null && n.kind !== 'domain';
    } else {
      const last = host.charCodeAt(host.length - 1);
      ipLiteral = last >= 48 && last <= 57 && isIPv4(host);
    }

    const { table, sets, urlRules, categories } = this.lists;
    const matched = this.matched;
    matched.length = 0;
    const found = table.suffixEntries(host, ipLiteral, this.entries);
    const squidGuardUrls = this.policy.urlMatching !== 'segment';
    let key: UrlKey | null = null;
    let wwwLen = -1;
    // most specific first, so the first category seen is the most specific one
    for (let k = found - 1; k >= 0; k--) {
      const e = this.entries[k]!;
      const set = sets.sets[table.setOf(e)]!;
      for (let i = 0; i < set.length; i++) matched.push(set[i]!);
      const urls = urlRules.get(e);
      if (!urls) continue;
      if (squidGuardUrls) {
        // squidGuard: URL entries name one host (and its www./web./ftp. form), not its subdomains
        const len = table.nameLength(e);
        if (wwwLen < 0) wwwLen = ipLiteral ? 0 : wwwPrefixLength(host);
        if (len !== host.length && len !== host.length - wwwLen) continue;
      }
      key ??= urlKey(input.path, input.query);
      for (const r of urls) if (squidGuardUrls ? matchesSquidGuard(r, key) : matchesSegment(r, key)) matched.push(r.category);
    }

    let localDeny = false;
    let localAllow = false;
    let firstCategory = -1;
    let best = -1;
    let bestCat = -1;
    for (let i = 0; i < matched.length; i++) {
      const c = matched[i]!;
      if (c === LOCAL_DENY) { localDeny = true; continue; }
      if (c === LOCAL_ALLOW) { localAllow = true; continue; }
      if (firstCategory < 0) firstCategory = c;
      const r = this.ruleFor(base, c);
      if (r >= 0 && (best < 0 || this.rules[r]!.severity > this.rules[best]!.severity)) { best = r; bestCat = c; }
    }
    if (localDeny) {
      return { action: 'block', category: firstCategory >= 0 ? categories[firstCategory]! : 'local', rule: 'local-deny', reason: this.policy.localDenyClause, band };
    }
    // patterns only when one could make the outcome stricter (each costs a regexp test)
    const { expressions } = this.lists;
    if (!localAllow && expressions.length > 0 && (best < 0 || this.rules[best]!.severity < SEVERITY.block)) {
      let url: string | null = null;
      for (const x of expressions) {
        const r = this.ruleFor(base, x.category);
        if (r < 0 || (best >= 0 && this.rules[r]!.severity <= this.rules[best]!.severity)) continue;
        url ??= (host + input.path + (input.query ? `?${input.query}` : '')).toLowerCase();
        if (x.re.test(url)) {
          best = r;
          bestCat = x.category;
          if (firstCategory < 0) firstCategory = x.category;
        }
      }
    }
    const category = bestCat >= 0 ? bestCat : firstCategory;
    const categoryName = category >= 0 ? categories[category]! : '';

    const state = input.state ?? NO_STATE;
    const now = input.at.getTime();
    for (const ex of state.exceptions) {
      if (ex.expiresAt <= now) continue;
      let hit = false;
      if (ex.host !== undefined) hit = hostWithin(host, ex.host);
      else if (ex.category !== undefined) {
        const exCat = this.lists.byName.get(ex.category);
        hit = exCat !== undefined && (exCat === bestCat || matched.includes(exCat));
      }
      if (hit) {
        return { action: 'allow', category: categoryName, rule: `exception:${ex.id}`, reason: `An exception approved by a director, until ${new Date(ex.expiresAt).toISOString()}.`, band };
      }
    }
    if (localAllow) return { action: 'allow', category: categoryName, rule: 'local-allow', reason: this.policy.localAllowClause, band };

    if (best >= 0) {
      const { rule, label } = this.rules[best]!;
      const d: Decision = { action: rule.action, category: categoryName, rule: label, reason: rule.clause, band };
      if (rule.action === 'warn') {
        d.continueMinutes = continueMinutesOf(rule);
        if ((state.continues.get(categoryName) ?? 0) > now) {
          d.action = 'allow';
          d.continued = true;
        }
      } else if (rule.action === 'quota') {
        const limit = quotaMinutesOf(rule);
        const used = state.quotaMinutesUsed.get(categoryName) ?? 0;
        d.quotaMinutesPerDay = limit;
        d.quotaMinutesUsed = used;
        if (used >= limit) {
          d.action = 'block';
          d.quotaExhausted = true;
          d.reason = `${rule.clause} (today's ${limit} minutes are used up; they start again at midnight, ${this.timezone} time)`;
        }
      }
      return d;
    }
    return { action: this.policy.defaultAction, category: categoryName, rule: 'default', reason: this.policy.defaultClause, band };
  }

  /** Every category the domain lists put `host` in (and its parent domains), most specific first. */
  categoriesOf(rawHost: string): string[] {
    const n = normaliseHost(rawHost);
    if (!n) return [];
    const { table, sets, categories } = this.lists;
    const entries = new Uint32Array(128);
    const found = table.suffixEntries(n.host, n.kind !== 'domain', entries);
    const out: string[] = [];
    for (let k = found - 1; k >= 0; k--) {
      const set = sets.sets[table.setOf(entries[k]!)]!;
      for (let i = 0; i < set.length; i++) {
        const c = set[i]!;
        if (c === LOCAL_DENY || c === LOCAL_ALLOW) continue;
        const name = categories[c]!;
        if (!out.includes(name)) out.push(name);
      }
    }
    return out;
  }
}
