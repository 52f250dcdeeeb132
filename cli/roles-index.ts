// Importing a role module registers it in ROLES (cli/roles.ts). One line per built role.
import '../analyser/ingest/role.ts';
import '../dashboards/role.ts';
import '../analyser/role.ts';
import '../proxy/role.ts';
export {};
