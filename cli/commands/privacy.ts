import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { auditLogFor } from '../../core/audit/log.ts';
import { loadConfig, runtimeFromEnv } from '../../core/config/load.ts';
import { validateUsername } from '../../core/identity/users.ts';
import { loadSigningKey } from '../../core/keys.ts';
import type { Platform } from '../../core/platform.ts';
import { discloseHold, listDisclosures, recordDisclosure } from '../../core/privacy/disclosures.ts';
import { buildDpia } from '../../core/privacy/dpia.ts';
import { collectSubjectAccess, writeSubjectAccess } from '../../core/privacy/dsar.ts';
import { LegalHolds } from '../../core/privacy/holds.ts';
import { CommandFailure, type CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

// The privacy duties on the command line: subject access exports, the DPIA draft, legal
// holds and the disclosure register. Whoever holds the data directory may run them; every step that
// reads or releases personal data writes an audit row (actor `system`, role `operator`) naming the
// person by pseudonym only.

function outPath(ctx: CommandContext, flag: string, value: string): string {
  if (ctx.insidePrimary && !isAbsolute(value)) {
    throw new CommandFailure(`${flag} ${value}: give an absolute path (the running fairwatch, process ${process.pid}, carries this out from its own directory)`, 2);
  }
  return resolve(value);
}

function parseTime(value: string, flag: string): Date {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t)) throw new CommandFailure(`${flag} ${value}: expected an ISO 8601 time such as 2026-01-31T09:00:00Z`, 2);
  return new Date(t);
}

const collect = (v: string, prev: string[]) => [...prev, v];

async function audit(p: Platform, action: string, target: string, reason: string, outcome: string): Promise<void> {
  await auditLogFor(p.store, p.redis).append({ actor: 'system', actorRole: 'operator', action, target, reason: reason || 'fairwatch command line', outcome });
}

/** Pseudonym → user name for the people in the directory (the directory is the only place names are). */
async function nameLookup(p: Platform): Promise<(pseudonym: string) => string | undefined> {
  const map = new Map((await p.users.list()).map((u) => [p.pseudonyms.user(u.username), u.username]));
  return (ps) => map.get(ps);
}


export function registerPrivacy({ program, act }: ProgramHandle, ctx: CommandContext): void {
  // ---- subject access ----
  const dsar = program.command('dsar').description('subject access requests (UK GDPR article 15)');
  dsar.command('export')
    .description("one person's records (events, acceptances, exceptions and self-reports) as HTML and CSV with an explanation of each field; audited")
    .requiredOption('--username <name>', 'the person whose records are asked for')
    .requiredOption('--out <dir>', 'a new or empty directory for the export')
    .option('--reason <text>', 'recorded in the audit log, e.g. the request reference', 'subject access request')
    .action(act(async (o: { username: string; out: string; reason: string }) => {
      const username = validateUsername(o.username);
      const out = outPath(ctx, '--out', o.out);
      return ctx.withPlatform({ store: true, redis: true }, async (p) => {
        const pseudonym = p.pseudonyms.user(username);
        const user = await p.users.get(username);
        const data = await collectSubjectAccess(p.store, p.redis, { username, pseudonym, inDirectory: Boolean(user), group: user?.group ?? null });
        let files;
        try {
          files = writeSubjectAccess(out, data, p.config.organisation);
        } catch (e) {
          throw new CommandFailure(`--out ${o.out}: ${(e as Error).message}`);
        }
        const index = files.find((f) => f.name === 'index.html')!;
        const first = data.events[0]?.t ?? Date.now();
        const last = data.events.at(-1)?.t ?? Date.now();
        await recordDisclosure(p.store, {
          kind: 'subject-access', holdId: '', recipient: 'the data subject', reference: o.reason, legalBasis: 'UK GDPR article 15 (right of access)',
          subjects: [pseudonym], from: new Date(first).toISOString(), to: new Date(last).toISOString(), rows: data.events.length,
          manifestSha256: index.sha256, actor: 'cli',
        });
        await audit(p, 'dsar.export', `pseudonym:${pseudonym}`, o.reason, `exported ${data.events.length} events, ${data.acceptances.length} acceptances, ${data.requests.length} requests`);
        ctx.io.out(`exported ${data.events.length} events, ${data.acceptances.length} acceptances, ${data.requests.length} requests to ${out} (${files.map((f) => f.name).join(', ')})\n`);
        if (!user) ctx.io.err(`fairwatch: note: ${username} is not in the user directory; records were looked up by the pseudonym of that name\n`);
        return 0;
      });
    }));

  // ---- DPIA ----
  const privacy = program.command('privacy').description('data protection documents from the live configuration');
  privacy.command('dpia')
    .description('a DPIA draft under the ICO template headings, from the configuration in use (Markdown)')
    .requiredOption('--out <file>', 'where to write it (- for standard output)')
    .action(act(async (o: { out: string }) => {
      // Needs no store: the configuration is what the draft describes, read as `start` reads it.
      const loaded = loadConfig(runtimeFromEnv());
      const text = buildDpia({ config: loaded.config, runtime: loaded.runtime, generatedAt: new Date() });
      if (o.out === '-') {
        ctx.io.out(text);
        return 0;
      }
      const file = outPath(ctx, '--out', o.out);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text, { mode: 0o600 });
      ctx.io.out(`DPIA draft written to ${file} (${text.split('\n').length} lines; ${(text.match(/TO COMPLETE/g) ?? []).length} items for the organisation to complete)\n`);
      return 0;
    }));

  // ---- legal holds ----
  const hold = program.command('hold').description('legal holds: records kept past retention for a third party\'s request');
  hold.command('open')
    .description('record a request (body, reference, legal basis, people, period) and hold the matching events and reports')
    .requiredOption('--body <name>', 'the requesting body, e.g. "Thames Valley Police"')
    .requiredOption('--reference <ref>', 'their reference')
    .requiredOption('--basis <text>', 'the legal basis, e.g. "DPA 2018 Sch 2 para 2"')
    .requiredOption('--username <name>', 'a person in scope (repeat for several)', collect, [])
    .requiredOption('--from <iso>', 'start of the period (inclusive), ISO 8601')
    .requiredOption('--to <iso>', 'end of the period (exclusive), ISO 8601')
    .option('--note <text>', 'anything else to record', '')
    .action(act(async (o: { body: string; reference: string; basis: string; username: string[]; from: string; to: string; note: string }) => {
      const names = o.username.map(validateUsername);
      const from = parseTime(o.from, '--from');
      const to = parseTime(o.to, '--to');
      return ctx.withPlatform({ store: true, redis: true }, async (p) => {
        const subjects = names.map((n) => p.pseudonyms.user(n));
        const h = await new LegalHolds(p.store).open({ requestingBody: o.body, reference: o.reference, legalBasis: o.basis, subjects, from, to, actor: 'cli', note: o.note })
          ;
        await audit(p, 'hold.open', `hold:${h.id}`, `${h.requestingBody} ${h.reference}: ${h.legalBasis}`, `held ${h.heldEvents} events, ${h.heldReports} reports of ${subjects.map((s) => `pseudonym:${s}`).join(' ')}`);
        ctx.io.out(`hold ${h.id} open: ${h.heldEvents} events and ${h.heldReports} reports held past retention until released\n`);
        return 0;
      });
    }));
  hold.command('list')
    .description('every hold with its basis, and what each keeps past retention now')
    .option('--json', 'one JSON line per hold')
    .action(act(async (o: { json?: boolean }) => ctx.withPlatform({ store: true, redis: true }, async (p) => {
      const holds = new LegalHolds(p.store);
      for (const h of await holds.list()) {
        const now = h.status === 'open' ? await holds.counts(h.id) : { events: 0, reports: 0 };
        if (o.json) ctx.io.out(JSON.stringify({ ...h, heldNow: now }) + '\n');
        else ctx.io.out(`${h.id} ${h.status} ${h.requestingBody} ref ${h.reference} basis "${h.legalBasis}" ${h.from}..${h.to} people ${h.subjects.length} holds ${now.events} events ${now.reports} reports${h.releasedAt ? ` released ${h.releasedAt}: ${h.releaseNote}` : ''}\n`);
      }
      return 0;
    })));
  hold.command('release')
    .description('end a hold: its copies are deleted and retention applies again')
    .argument('<id>', 'the hold id')
    .requiredOption('--reason <text>', 'why the hold ends')
    .action(act(async (id: string, o: { reason: string }) => ctx.withPlatform({ store: true, redis: true }, async (p) => {
      const h = await new LegalHolds(p.store).release(id, 'cli', o.reason);
      await audit(p, 'hold.release', `hold:${h.id}`, o.reason, 'released');
      ctx.io.out(`hold ${h.id} released\n`);
      return 0;
    })));
  hold.command('export')
    .description("a signed evidence pack of a hold's records for the requesting body; recorded in the disclosure register")
    .argument('<id>', 'the hold id')
    .requiredOption('--out <dir>', 'a new directory for the pack')
    .option('--recipient <name>', 'who receives it (default: the requesting body)')
    .action(act(async (id: string, o: { out: string; recipient?: string }) => {
      const out = outPath(ctx, '--out', o.out);
      return ctx.withPlatform({ store: true, redis: true }, async (p) => {
        const log = auditLogFor(p.store, p.redis);
        const head = (await log.list(1))[0];
        const r = await discloseHold({
          store: p.store, holds: new LegalHolds(p.store), holdId: id, recipient: o.recipient, actor: 'cli', outDir: out,
          signingKey: loadSigningKey(p.runtime.dataDir), auditHead: head ? { seq: head.seq, hash: head.hash } : null, nameOf: await nameLookup(p),
        });
        await audit(p, 'hold.disclose', `hold:${id}`, `${r.disclosure.recipient} ${r.disclosure.reference}: ${r.disclosure.legalBasis}`, `disclosure ${r.disclosure.id}: ${r.disclosure.rows} events`);
        ctx.io.out(`evidence pack of hold ${id} written to ${out}: ${r.disclosure.rows} events; disclosure ${r.disclosure.id} recorded\n`);
        return 0;
      });
    }));

  program.command('disclosures').description('the disclosure register')
    .command('list').description('every disclosure with recipient, reference and legal basis')
    .option('--json', 'one JSON line per disclosure')
    .action(act(async (o: { json?: boolean }) => ctx.withPlatform({ store: true, redis: true }, async (p) => {
      for (const d of await listDisclosures(p.store)) {
        if (o.json) ctx.io.out(JSON.stringify(d) + '\n');
        else ctx.io.out(`${d.at} ${d.kind} to "${d.recipient}" ref ${d.reference} basis "${d.legalBasis}" ${d.rows} rows people ${d.subjects.length}${d.holdId ? ` hold ${d.holdId}` : ''} sha256 ${d.manifestSha256.slice(0, 16)}\n`);
      }
      return 0;
    })));
}
