import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { logRetention } from '../../analyser/schedule/retention-log.ts';
import { verifyEvidencePack } from '../../core/evidence/pack.ts';
import { applyRetention } from '../../core/storage/migrations.ts';
import { runCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { seedPerson } from './records.ts';

// A legal hold on the real embedded ClickHouse: opened from the command line, it keeps alice's
// events in its window through a retention run (the events TTL made shorter than their age, then
// applied with MATERIALIZE TTL) that deletes every neighbour; its evidence pack verifies and is in
// the register; released, the copies go.

const data = tempDir();
const outs = tempDir();
afterAll(() => { data.cleanup(); outs.cleanup(); });
const env = { FAIRWATCH_DATA_DIR: data.dir };
const DAY = 86_400_000;

describe('legal hold', () => {
  it('a held event survives a retention run that deletes its neighbours; pack, register, release', async () => {
    const base = Date.now() - 10 * DAY;
    const t = await openTestPlatform({ dataDir: data.dir });
    let alice, bob, aliceLater;
    try {
      const p = t.platform;
      await p.users.add({ username: 'alice', role: 'staff', group: 'staff', password: 'alice long password' });
      alice = await seedPerson(p, 'alice', { count: 4, at: base, hostPrefix: 'alicein' });
      // alice outside the hold's window, and bob inside it: neighbours retention must delete
      aliceLater = await seedPerson(p, 'alice', { count: 3, at: base + 2 * DAY, hostPrefix: 'aliceout' });
      bob = await seedPerson(p, 'bob', { count: 4, at: base, hostPrefix: 'bobin' });
    } finally {
      await t.platform.close();
    }
    const from = new Date(base - 60_000).toISOString();
    const to = new Date(base + DAY).toISOString();
    const bad = await runCli(['hold', 'open', '--body', 'Police', '--reference', 'R1', '--basis', ' ', '--username', 'alice', '--from', from, '--to', to], { env, timeoutMs: 180_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/legal basis: required/);
    const opened = await runCli(['hold', 'open', '--body', 'Thames Valley Police', '--reference', 'TVP/2026/0042', '--basis', 'DPA 2018 Sch 2 para 2',
      '--username', 'alice', '--from', from, '--to', to], { env, timeoutMs: 180_000 });
    expect(opened.stderr).toBe('');
    expect(opened.code).toBe(0);
    const id = /^hold ([0-9a-f-]{36}) open: 4 events and 0 reports held/.exec(opened.stdout)![1]!;

    const t2 = await openTestPlatform({ dataDir: data.dir });
    try {
      const p = t2.platform;
      // the analyser's retention log line names the hold and why, not the person
      const lines: string[] = [];
      const log = pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } });
      await logRetention({ store: p.store, config: p.config, log });
      const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(msgs[0]).toMatch(/^retention: events 90 days, .*; 1 legal hold open$/);
      expect(msgs[1]).toBe(`retention: hold ${id} (Thames Valley Police, ref TVP/2026/0042, basis "DPA 2018 Sch 2 para 2"): 4 events and 0 reports kept past retention until released`);
      expect(lines.join('')).not.toMatch(/alice/i);
      const count = async (table: string) => Number((await p.store.one<{ n: number }>(`SELECT count() AS n FROM fairwatch.${table}`))!.n);
      expect(await count('events')).toBe(11);
      // the retention run: events kept 5 days, applied to existing parts now
      expect(await applyRetention(p.store, { eventsDays: 5, reportsDays: 730, rollupsDays: 396 })).toContain('events');
      await p.store.command('ALTER TABLE fairwatch.events MATERIALIZE TTL', undefined, { mutations_sync: '2' });
      await p.store.command('OPTIMIZE TABLE fairwatch.events FINAL');
      expect(await count('events')).toBe(0);
      const held = await p.store.rows<{ id: string }>(`SELECT toString(event_id) AS id FROM fairwatch.held_events WHERE hold_id = {h:UUID} ORDER BY id`, { h: id });
      expect(held.map((r) => r.id)).toEqual([...alice!.eventIds].sort());
      for (const e of [...bob!.eventIds, ...aliceLater!.eventIds]) expect(held.map((r) => r.id)).not.toContain(e);
    } finally {
      await t2.platform.close();
    }

    const doctor = await runCli(['doctor'], { env, timeoutMs: 180_000 });
    expect(doctor.stdout).toMatch(/legal holds:\s+1 open\n\s+hold [0-9a-f-]{36} \(Thames Valley Police, ref TVP\/2026\/0042, basis "DPA 2018 Sch 2 para 2"\): 4 events and 0 reports kept past retention until released\n/);
    expect(doctor.stdout).toMatch(/retention:\s+events 90 days, rollups 396 days, reports 730 days/);

    const list = await runCli(['hold', 'list'], { env, timeoutMs: 180_000 });
    expect(list.stdout).toContain(`${id} open Thames Valley Police ref TVP/2026/0042 basis "DPA 2018 Sch 2 para 2"`);
    expect(list.stdout).toMatch(/holds 4 events 0 reports/);

    const pack = join(outs.dir, 'pack');
    const exp = await runCli(['hold', 'export', id, '--out', pack], { env, timeoutMs: 180_000 });
    expect(exp.stderr).toBe('');
    expect(exp.code).toBe(0);
    const v = verifyEvidencePack(pack, readFileSync(join(data.dir, 'keys', 'evidence-ed25519.pub.pem'), 'utf8'));
    expect(v.ok).toBe(true);
    const csv = readFileSync(join(pack, 'events.csv'), 'utf8');
    expect(csv.trim().split('\r\n')).toHaveLength(5);
    expect(csv).toContain('alice');
    expect(csv).not.toMatch(/bobin|aliceout/);
    const verifyCli = await runCli(['evidence', 'verify', pack], { env, timeoutMs: 60_000 });
    expect(verifyCli.code).toBe(0);

    const reg = await runCli(['disclosures', 'list', '--json'], { env, timeoutMs: 180_000 });
    const d = reg.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ kind: 'legal-hold', holdId: id, recipient: 'Thames Valley Police', reference: 'TVP/2026/0042', legalBasis: 'DPA 2018 Sch 2 para 2', rows: 4 });

    const noReason = await runCli(['hold', 'release', id, '--reason', ''], { env, timeoutMs: 180_000 });
    expect(noReason.code).toBe(2);
    const rel = await runCli(['hold', 'release', id, '--reason', 'case closed'], { env, timeoutMs: 180_000 });
    expect(rel.code).toBe(0);
    const twice = await runCli(['hold', 'release', id, '--reason', 'again'], { env, timeoutMs: 180_000 });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already released/);
    expect((await runCli(['doctor'], { env, timeoutMs: 180_000 })).stdout).toMatch(/legal holds:\s+none open: nothing held past retention\n/);
    const gone = await runCli(['hold', 'export', id, '--out', join(outs.dir, 'pack2')], { env, timeoutMs: 180_000 });
    expect(gone.stderr).toMatch(/is released/);

    const t3 = await openTestPlatform({ dataDir: data.dir });
    try {
      const p = t3.platform;
      expect(Number((await p.store.one<{ n: number }>('SELECT count() AS n FROM fairwatch.held_events'))!.n)).toBe(0);
      const audit = await p.store.rows<{ action: string; target: string }>("SELECT action, target FROM fairwatch.audit_log WHERE action LIKE 'hold.%' ORDER BY seq");
      expect(audit.map((a) => a.action)).toEqual(['hold.open', 'hold.disclose', 'hold.release']);
      expect(JSON.stringify(await p.store.rows('SELECT * FROM fairwatch.audit_log'))).not.toMatch(/alice/i);
    } finally {
      await t3.platform.close();
    }
  }, 600_000);
});
