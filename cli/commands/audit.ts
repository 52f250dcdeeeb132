import { auditLogFor } from '../../core/audit/log.ts';
import type { CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerAudit({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const audit = program.command('audit').description('the hash-chained audit log');
  audit.command('verify')
    .description('check the audit hash chain: exit 0 and `ok N rows`, or exit 1 naming the first broken row')
    .action(act(async () => ctx.withPlatform({ store: true, redis: true }, async (p) => {
      const result = await auditLogFor(p.store, p.redis).verify();
      if (result.ok) {
        ctx.io.out(`ok ${result.rows} rows\n`);
        return 0;
      }
      ctx.io.err(`audit chain broken at seq ${result.brokenSeq}: row ${result.brokenSeq} ${result.problem} (${result.rows} rows read)\n`);
      return 1;
    })));
}
