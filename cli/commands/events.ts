import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

// `fairwatch events count`: makes "exactly once" checkable by an operator. Prints how many events
// are stored for a window and how many distinct event ids they carry; the two must be equal.

function parseTime(value: string, flag: string): Date {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t)) throw new CommandFailure(`${flag} ${value}: expected an ISO 8601 time such as 2026-01-31T09:00:00Z`, 2);
  return new Date(t);
}

export function registerEvents({ program, act }: ProgramHandle, ctx: CommandContext): void {
  const events = program.command('events').description('the stored access events');
  events.command('count')
    .description('counts stored events in a time window and checks that no event id appears twice')
    .requiredOption('--from <iso>', 'start of the window (inclusive), ISO 8601')
    .requiredOption('--to <iso>', 'end of the window (exclusive), ISO 8601')
    .option('--json', 'one JSON line instead of text')
    .action(act(async (o: { from: string; to: string; json?: boolean }) => {
      const from = parseTime(o.from, '--from');
      const to = parseTime(o.to, '--to');
      if (to <= from) throw new CommandFailure(`--to ${o.to} is not after --from ${o.from}`, 2);
      return ctx.withPlatform({ store: true }, async (p) => {
        const row = await p.store.one<{ n: number; u: number }>(
          `SELECT count() AS n, uniqExact(event_id) AS u FROM ${p.store.database}.events
           WHERE ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
          { from: from.getTime(), to: to.getTime() });
        const n = Number(row?.n ?? 0);
        const u = Number(row?.u ?? 0);
        if (o.json) ctx.io.out(JSON.stringify({ from: from.toISOString(), to: to.toISOString(), count: n, unique: u, duplicates: n - u }) + '\n');
        else ctx.io.out(`events ${n} unique ${u} duplicates ${n - u} (${from.toISOString()} to ${to.toISOString()})\n`);
        if (n !== u) {
          ctx.io.err(`fairwatch: ${n - u} stored events repeat an event id already stored\n`);
          return 1;
        }
        return 0;
      });
    }));
}
