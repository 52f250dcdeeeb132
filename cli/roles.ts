import type { Platform } from '../core/platform.ts';

// The long-running roles. Each role module adds itself here; `start` runs all of them in one
// process (embedded mode), `fairwatch <role>` runs one (scaled deployments).

export type RoleName = 'ingest' | 'analyser' | 'console' | 'proxy';

export interface RoleHandle {
  /** what to print once the role is ready, e.g. "console on http://127.0.0.1:8080" */
  summary: string;
  stop(): Promise<void>;
}

export interface RoleDef {
  /** platform parts the role needs */
  needs: { store: boolean; redis: boolean };
  start(p: Platform): Promise<RoleHandle>;
}

/** In start order: storage consumers first, the proxy (which takes traffic) last. */
export const ROLE_ORDER: RoleName[] = ['ingest', 'analyser', 'console', 'proxy'];

export const ROLES: Partial<Record<RoleName, RoleDef>> = {};
