import { PolicySnapshot, type PolicyConfig } from '../core/policy/engine.ts';
import { listsFromShared, shareLists, type SharedLists } from '../core/policy/lists.ts';

// The proxy's worker process compiles the policy once; each worker thread rebuilds the small parts
// from a structured clone and wraps the list table's shared memory (no copy of the big arrays).

/** A compiled policy as it crosses to a thread: rules and lists, the list table's memory shared. */
export interface SharedPolicy {
  policy: PolicyConfig;
  timezone: string;
  lists: SharedLists;
  loadedAt: number;
}

export function sharePolicy(s: PolicySnapshot): SharedPolicy {
  return { policy: s.policy, timezone: s.timezone, lists: shareLists(s.lists), loadedAt: s.loadedAt.getTime() };
}

export function policyFromShared(p: SharedPolicy): PolicySnapshot {
  return new PolicySnapshot(p.policy, p.timezone, listsFromShared(p.lists), new Date(p.loadedAt));
}
