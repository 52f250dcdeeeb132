import type { Redis } from 'ioredis';
import { CHANNELS } from '../channels.ts';

// The seam between a director approving a staff work exception and the policy engine honouring it.
// The policy side (core/policy/, built in parallel) owns how an exception is stored and applied;
// until it exports `grantException`, approvals are announced on the exceptions channel with
// everything the proxy needs (pseudonym, target, expiry) so nothing approved is lost.

export interface ExceptionGrant {
  requestId: string;
  /** the staff member's pseudonym (block-page requests never carry a name) */
  userPseudonym: string;
  /** host or category the exception covers */
  target: string;
  /** ms since the epoch */
  expiresAt: number;
}

export type GrantException = (grant: ExceptionGrant) => Promise<void>;
export type RevokeException = (grant: Pick<ExceptionGrant, 'requestId' | 'userPseudonym'>) => Promise<void>;

export const EXCEPTION_KEY = (pseudonym: string) => `fairwatch:exceptions:${pseudonym}`;

export function announceException(redis: Redis): { grant: GrantException; revoke: RevokeException } {
  return {
    grant: async (g) => {
      await redis.hset(EXCEPTION_KEY(g.userPseudonym), g.requestId, JSON.stringify(g));
      await redis.publish(CHANNELS.exceptionsChanged, JSON.stringify({ kind: 'grant', ...g }));
    },
    revoke: async (g) => {
      await redis.hdel(EXCEPTION_KEY(g.userPseudonym), g.requestId);
      await redis.publish(CHANNELS.exceptionsChanged, JSON.stringify({ kind: 'revoke', ...g }));
    },
  };
}
