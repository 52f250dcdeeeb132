import type { Platform } from './platform.ts';

// What a long-running role is. Each role module (proxy/role.ts, analyser/role.ts,
// analyser/ingest/role.ts, dashboards/role.ts) exports one `RoleDef`; cli/roles.ts names them.

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
