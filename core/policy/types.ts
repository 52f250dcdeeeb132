// The interface between the proxy and the policy engine. The engine is a pure function over an
// in-memory snapshot: no I/O, microseconds per call. Per-person state that lives in Redis (warn
// "continue" grants, quota minutes used, director-approved exceptions) is looked up by the caller
// from its local cache and passed in, so `decide` itself never waits.

export type PolicyAction = 'allow' | 'block' | 'warn' | 'quota' | 'log';

export interface DecisionInput {
  /** normalised user name, or null for an unidentified guest */
  user: string | null;
  group: string;
  method: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** path without the query string ('' for CONNECT) */
  path: string;
  /** the query string without "?", if the caller has it: URL entries with a query and `expressions` patterns look at it */
  query?: string;
  at: Date;
  /**
   * The person's Redis-backed state (exceptions, warn "continue" grants, quota minutes used), from
   * the caller's in-memory cache (core/policy/person-state.ts). Absent: none of these apply.
   */
  state?: PersonState;
}

/** A director-approved exception for one person: a category or a host (and its subdomains). */
export interface ExceptionGrant {
  id: string;
  userPseudonym: string;
  category?: string;
  host?: string;
  /** epoch milliseconds; the grant lapses at this instant */
  expiresAt: number;
  /** why it was granted, as the director wrote it */
  note?: string;
}

export interface PersonState {
  exceptions: readonly ExceptionGrant[];
  /** category → epoch ms until which a warn "continue" allows it */
  continues: ReadonlyMap<string, number>;
  /** category → distinct minutes used today (organisation's day) */
  quotaMinutesUsed: ReadonlyMap<string, number>;
}

export interface Decision {
  action: PolicyAction;
  /** matched category directory name, '' when none matched */
  category: string;
  /** which rule decided: e.g. 'local-deny', 'exception:<id>', 'local-allow', 'rule:3', 'default' */
  rule: string;
  /** the policy clause shown to staff and in reports */
  reason: string;
  /** warn: minutes a "continue" allows the category */
  continueMinutes?: number;
  /** quota: minutes per day allowed for the category */
  quotaMinutesPerDay?: number;
  /** quota: minutes already used today (from the state passed in) */
  quotaMinutesUsed?: number;
  /** true when a quota rule blocked because today's minutes are used up */
  quotaExhausted?: boolean;
  /** true when a warn rule allowed because the person chose "continue" recently */
  continued?: boolean;
  /** a virus scanner's finding (rule `virus`): the signature name shown on the block page */
  signature?: string;
  /** the time band the decision was taken in */
  band?: 'working' | 'break' | 'out-of-hours';
}

export interface PolicyEngine {
  decide(input: DecisionInput): Decision;
  /** every category the lists put a host in (not local allow/deny): for choices such as HTTPS inspection */
  categoriesOf?(host: string): string[];
}

/** Until a policy is loaded: everything allowed, recorded under the 'default' rule. */
export const allowAll: PolicyEngine = {
  decide: () => ({ action: 'allow', category: '', rule: 'default', reason: '' }),
};
