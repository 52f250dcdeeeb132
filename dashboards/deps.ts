import type { Redis } from 'ioredis';
import type { AlertStore } from '../core/alerts/store.ts';
import type { AuditLog } from '../core/audit/log.ts';
import type { GrantException, RevokeException } from '../core/authorisation/exceptions.ts';
import type { Authorisations } from '../core/authorisation/store.ts';
import type { Config } from '../core/config/schema.ts';
import type { Logger } from '../core/log.ts';
import type { Pseudonymiser } from '../core/identity/pseudonym.ts';
import type { UserDirectory } from '../core/identity/users.ts';
import type { Decision } from '../core/policy/types.ts';
import type { Store } from '../core/storage/clickhouse.ts';
import type { ClamdSupervisor } from '../core/net/clamd.ts';
import type { ManagedRedisHealth } from '../core/storage/redis.ts';
import type { Sessions } from './security/session.ts';
import type { LoginLimiter } from './security/login-limit.ts';
import type { OidcProviders } from './security/oidc.ts';
import type { ExternalAccounts } from '../core/identity/external-accounts.ts';

/**
 * "Why was this blocked": the proxy's own engine, supplied by the role (absent until it is built).
 * Gives the decision and the tested person's user_id (for the audit row).
 */
export type PolicyTester = (input: { user: string; url: string; at: Date }) => Promise<{ decision: Decision; userId: string }>;

/** Everything the console needs, so the app is built (and tested) without a listener. */
export interface ConsoleDeps {
  config: Config;
  /** where internal errors are logged */
  log: Logger;
  store: Store;
  redis: Redis;
  users: UserDirectory;
  pseudonyms: Pseudonymiser;
  reportKey: Buffer;
  /** the data directory (its keys/ hold the evidence signing key) */
  dataDir: string;
  audit: AuditLog;
  authz: Authorisations;
  /** pseudonymous alerts raised by the ingester (core/alerts) */
  alerts: AlertStore;
  sessions: Sessions;
  limiter: LoginLimiter;
  /** identity.oidc: sign-in with the organisation's OpenID providers */
  oidc: OidcProviders;
  /** provider accounts linked to users (made on first sign-in) */
  externalAccounts: ExternalAccounts;
  /** the address the console listens on, when console.publicUrl is unset (undefined: not linkable) */
  consoleUrl?: () => string | undefined;
  exceptions: { grant: GrantException; revoke: RevokeException };
  policyTester: PolicyTester | null;
  /** squidGuard/UT1 list directory, for the list health page */
  blocklistsDir: string;
  /** a request arrived: tell the directors (no personal data) */
  notify: (what: 'request') => Promise<void>;
  /** cookies get Secure and the __Host- prefix when served over TLS */
  tls: boolean;
  now: () => number;
  /** where the store, Redis and config come from (the DPIA draft says so); absent in tests that do not need it */
  runtime?: { clickhouseUrl: string | null; redisUrl: string | null; configPath: string | null };
  /** the redis-server this process supervises, for the health page (absent with REDIS_URL) */
  managedRedis?: { health(): ManagedRedisHealth; dir: string } | null;
  /** the clamd the proxy role of this process supervises (it starts after the console, so asked each time) */
  managedClamd?: () => ClamdSupervisor | null;
}
