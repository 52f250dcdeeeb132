import { loadKey } from '../../core/keys.ts';
import { listReports } from '../../core/reports/storage.ts';
import { checkPeriod } from '../../core/reports/context.ts';
import { saveBuiltReport } from '../../core/reports/payload.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerReports({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const reports = program.command('reports').description('audits and spot checks: build one now, list stored reports (sealed; the console opens them)');

  reports.command('run')
    .description('build a report now and print its id (default period: yesterday for an audit, last week for a spot check)')
    .argument('<kind>', 'audit | spot-check')
    .option('--from <iso>', 'start of the period (ISO date or date-time; dates are UTC midnight)')
    .option('--to <iso>', 'end of the period (exclusive)')
    .option('--seed <hex>', 'spot check: reuse a recorded seed to reproduce its draw')
    .action(act(async (kind: string, opts: { from?: string; to?: string; seed?: string }) => {
      if (kind !== 'audit' && kind !== 'spot-check') throw new CommandFailure(`report kind "${kind}": expected audit or spot-check`, 2);
      if (Boolean(opts.from) !== Boolean(opts.to)) throw new CommandFailure('give both --from and --to, or neither', 2);
      if (opts.seed !== undefined && !/^[0-9a-f]{32,}$/i.test(opts.seed)) throw new CommandFailure('--seed: expected at least 32 hexadecimal characters', 2);
      return ctx.withPlatform({ store: true }, async (p) => {
        const { buildAudit, buildSpotCheck, periodContaining, previousPeriod, RunLog } = await analyserParts();
        const tz = p.config.organisation.timezone;
        let period: { from: string; to: string };
        if (opts.from && opts.to) {
          try {
            checkPeriod({ from: opts.from, to: opts.to });
          } catch (e) {
            throw new CommandFailure((e as Error).message, 2);
          }
          period = { from: opts.from, to: opts.to };
        } else {
          const kindOf = kind === 'audit' ? 'day' : 'week';
          const prev = previousPeriod(kindOf, periodContaining(kindOf, Date.now(), tz), tz);
          period = { from: new Date(prev.from).toISOString(), to: new Date(prev.to).toISOString() };
        }
        const bctx = { store: p.store, config: p.config };
        const runs = new RunLog(p.store, `cli:${process.pid}`);
        const range = checkPeriod(period);
        const run = await runs.begin(`on-demand-${kind}`, range, 'on-demand');
        try {
          const built = kind === 'audit' ? await buildAudit(bctx, period, 'on demand') : await buildSpotCheck(bctx, period, { seed: opts.seed?.toLowerCase() });
          const id = await saveBuiltReport(p.store, loadKey(p.runtime.dataDir, 'report-master', p.env), built, p.config.organisation.name);
          await runs.finish(run, 'ok', { report_id: id });
          ctx.io.out(`${id}\n`);
          return 0;
        } catch (e) {
          await runs.finish(run, 'failed', { error: (e as Error).message });
          throw e;
        }
      });
    }));

  reports.command('list')
    .description('stored reports: id, kind, period, created, row counts (metadata only)')
    .option('--json', 'one JSON object per line')
    .action(act(async (opts: { json?: boolean }) => ctx.withPlatform({ store: true }, async (p) => {
      for (const r of await listReports(p.store)) {
        ctx.io.out(opts.json ? JSON.stringify(r) + '\n' : `${r.id}  ${r.kind.padEnd(13)} ${r.periodFrom} → ${r.periodTo}  created ${r.createdAt}\n`);
      }
      return 0;
    })));

  reports.command('runs')
    .description('recent report runs (scheduled, caught up, on demand) with their outcome')
    .action(act(async () => ctx.withPlatform({ store: true }, async (p) => {
      const { RunLog } = await analyserParts();
      for (const r of await new RunLog(p.store, 'cli').list()) {
        ctx.io.out(`${r.started_at}  ${r.job.padEnd(22)} ${r.period_from} → ${r.period_to}  ${r.trigger.padEnd(9)} ${r.status}${r.report_id ? ` ${r.report_id}` : ''}${r.error ? ` ${r.error}` : ''}\n`);
      }
      return 0;
    })));
}

/** The analyser's report builders, loaded when a report command runs (not by every command line). */
async function analyserParts() {
  const [audit, spot, periods, runs] = await Promise.all([
    import('../../analyser/reports/audit.ts'), import('../../analyser/reports/spot-check.ts'),
    import('../../analyser/schedule/periods.ts'), import('../../analyser/schedule/runs.ts'),
  ]);
  return { buildAudit: audit.buildAudit, buildSpotCheck: spot.buildSpotCheck, periodContaining: periods.periodContaining, previousPeriod: periods.previousPeriod, RunLog: runs.RunLog };
}
