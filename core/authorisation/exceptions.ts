import type { Redis } from 'ioredis';
import { grantException, revokeException } from '../policy/person-state.ts';

// The step from a director approving a staff work exception to the proxy honouring it: the policy
// side's grantException (core/policy/person-state.ts) stores it in Redis and tells every proxy.
// A work-exception request's target is the host from the block page, or `category:<name>` for a
// whole category.

export interface ExceptionGrant {
  requestId: string;
  /** the staff member's pseudonym (block-page requests never carry a name) */
  userPseudonym: string;
  /** host, or category:<name> */
  target: string;
  /** ms since the epoch */
  expiresAt: number;
  note?: string;
}

export type GrantException = (grant: ExceptionGrant) => Promise<void>;
export type RevokeException = (grant: Pick<ExceptionGrant, 'requestId' | 'userPseudonym'>) => Promise<void>;

export function policyExceptions(redis: Redis): { grant: GrantException; revoke: RevokeException } {
  return {
    grant: async (g) => {
      const scope = g.target.startsWith('category:') ? { category: g.target.slice('category:'.length) } : { host: g.target };
      await grantException(redis, { id: g.requestId, userPseudonym: g.userPseudonym, expiresAt: g.expiresAt, ...scope, ...(g.note ? { note: g.note } : {}) });
    },
    revoke: async (g) => {
      await revokeException(redis, g.requestId);
    },
  };
}
