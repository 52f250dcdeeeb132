import type { CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';
import { registerAudit } from './audit.ts';
import { registerBlocklists } from './blocklists.ts';
import { registerCa } from './ca.ts';
import { registerDoctor } from './doctor.ts';
import { registerEvents } from './events.ts';
import { registerEvidence } from './evidence.ts';
import { registerImport } from './import.ts';
import { registerOps } from './ops.ts';
import { registerPolicy } from './policy.ts';
import { registerPrivacy } from './privacy.ts';
import { registerReports } from './reports.ts';
import { registerRoles } from './roles.ts';
import { registerUsers } from './users.ts';

// One line per command module; each role's commands live beside the others here.
export function registerCommands(h: ProgramHandle, ctx: CommandContext): void {
  registerRoles(h, ctx);
  registerUsers(h, ctx);
  registerDoctor(h, ctx);
  registerEvents(h, ctx);
  registerAudit(h, ctx);
  registerCa(h, ctx);
  registerReports(h, ctx);
  registerImport(h, ctx);
  registerEvidence(h, ctx);
  registerPolicy(h, ctx);
  registerBlocklists(h, ctx);
  registerOps(h, ctx);
  registerPrivacy(h, ctx);
}
