import type { RoleDef, RoleName } from '../core/role.ts';

export type { RoleDef, RoleHandle, RoleName } from '../core/role.ts';

// The long-running roles: `start` runs all of them in one process (embedded mode), `fairwatch <role>`
// runs one (scaled deployments). A role's module is imported only when that role runs, so
// `fairwatch proxy` does not load the console.

export const ROLE_TABLE: { readonly [N in RoleName]: () => Promise<RoleDef> } = {
  ingest: async () => (await import('../analyser/ingest/role.ts')).ingestRole,
  analyser: async () => (await import('../analyser/role.ts')).analyserRole,
  console: async () => (await import('../dashboards/role.ts')).consoleRole,
  proxy: async () => (await import('../proxy/role.ts')).proxyRole,
};

/** In start order: storage consumers first, the proxy (which takes traffic) last. */
export const ROLE_ORDER: readonly RoleName[] = ['ingest', 'analyser', 'console', 'proxy'];

export function loadRole(name: RoleName): Promise<RoleDef> {
  return ROLE_TABLE[name]();
}
