import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Authorisations } from '../../core/authorisation/store.ts';
import { recordAupAcceptance } from '../../core/identity/aup.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';
import { seedPerson, type Seeded } from './records.ts';

// `fairwatch dsar export` on a real data directory holding two people: the export holds exactly
// alice's rows and nothing of bob's, is audited and registered; run once on its own and once
// through a running console (control socket).

const data = tempDir();
const outs = tempDir();
afterAll(() => { data.cleanup(); outs.cleanup(); });
const env = { FAIRWATCH_DATA_DIR: data.dir, FAIRWATCH_CONSOLE_PORT: '0' };

let alice: Seeded;
let bob: Seeded;
let alicePs = '';
let bobPs = '';

async function seed() {
  const t = await openTestPlatform({ dataDir: data.dir });
  try {
    const p = t.platform;
    await p.users.add({ username: 'alice', role: 'staff', group: 'staff', password: 'alice long password' });
    await p.users.add({ username: 'bob', role: 'staff', group: 'volunteers', password: 'bob long password' });
    alicePs = p.pseudonyms.user('alice');
    bobPs = p.pseudonyms.user('bob');
    const at = Date.now() - 3 * 86_400_000;
    alice = await seedPerson(p, 'alice', { count: 7, at, hostPrefix: 'alicesite' });
    bob = await seedPerson(p, 'bob', { count: 5, at, hostPrefix: 'bobsite', group: 'volunteers' });
    await recordAupAcceptance(p.store, p.redis, { userPseudonym: alicePs, version: '1', clientPseudonym: 'c1' });
    await recordAupAcceptance(p.store, p.redis, { userPseudonym: bobPs, version: '1', clientPseudonym: 'c2' });
    const authz = new Authorisations(p.store, p.redis);
    await authz.request({ subject: 'work-exception', target: 'alicework.example', requester: alicePs, reason: 'alice needs it for the grant bid', details: { host: 'alicework.example', category: 'news' } });
    await authz.request({ subject: 'self-report', target: 'bobslip.example', requester: bobPs, reason: 'bob clicked by mistake', details: { host: 'bobslip.example', category: 'games' } });
  } finally {
    await t.platform.close();
  }
}

function checkExport(dir: string) {
  expect(readdirSync(dir).sort()).toEqual(['acceptances.csv', 'events.csv', 'fields.csv', 'index.html', 'requests.csv']);
  const all = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
  const events = readFileSync(join(dir, 'events.csv'), 'utf8').trim().split('\r\n');
  expect(events).toHaveLength(1 + alice.eventIds.length);
  for (const id of alice.eventIds) expect(all).toContain(id);
  for (const h of alice.hosts) expect(all).toContain(h);
  expect(all).toContain('alicesite-file.pdf');
  expect(all).toContain('alice needs it for the grant bid');
  expect(readFileSync(join(dir, 'acceptances.csv'), 'utf8').trim().split('\r\n')).toHaveLength(2);
  // nothing about anyone else
  for (const id of bob.eventIds) expect(all).not.toContain(id);
  expect(all).not.toMatch(/bob|volunteers/);
  expect(all).not.toContain(bobPs);
  // each field explained
  const fields = readFileSync(join(dir, 'fields.csv'), 'utf8');
  for (const col of events[0]!.split(',')) expect(fields).toContain(`events.csv,${col},`);
  expect(readFileSync(join(dir, 'index.html'), 'utf8')).toMatch(/Web requests recorded \(7\)/);
}

describe('fairwatch dsar export', () => {
  it('holds exactly one person\'s rows, audited and registered, whether or not fairwatch runs', async () => {
    await seed();
    const first = join(outs.dir, 'alone');
    const r = await runCli(['dsar', 'export', '--username', 'Alice', '--out', first, '--reason', 'SAR-2026-01'], { env, timeoutMs: 180_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^exported 7 events, 1 acceptances, 1 requests to /);
    checkExport(first);
    // a second export into the same directory is refused, naming the flag
    const again = await runCli(['dsar', 'export', '--username', 'alice', '--out', first], { env, timeoutMs: 180_000 });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/--out .*not empty/);

    const running = startCli(['console'], { env, timeoutMs: 180_000 });
    try {
      await running.ready;
      const rel = await runCli(['dsar', 'export', '--username', 'alice', '--out', 'relative-dir'], { env, timeoutMs: 180_000 });
      expect(rel.code).toBe(2);
      expect(rel.stderr).toMatch(/--out relative-dir: give an absolute path/);
      const second = join(outs.dir, 'through-console');
      const viaSocket = await runCli(['dsar', 'export', '--username', 'alice', '--out', second], { env, timeoutMs: 180_000 });
      expect(viaSocket.stderr).toBe('');
      expect(viaSocket.code).toBe(0);
      checkExport(second);
      const reg = await runCli(['disclosures', 'list', '--json'], { env, timeoutMs: 180_000 });
      const rows = reg.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; subjects: string[]; legalBasis: string; rows: number });
      expect(rows).toHaveLength(2);
      expect(rows.every((d) => d.kind === 'subject-access' && d.subjects[0] === alicePs && d.rows === 7 && /article 15/.test(d.legalBasis))).toBe(true);
    } finally {
      expect(await running.stop()).toBe(0);
    }
    const t = await openTestPlatform({ dataDir: data.dir });
    try {
      const rows = await t.platform.store.rows<{ action: string; target: string; reason: string; outcome: string }>(
        "SELECT action, target, reason, outcome FROM fairwatch.audit_log WHERE action = 'dsar.export' ORDER BY seq");
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatchObject({ target: `pseudonym:${alicePs}`, reason: 'SAR-2026-01', outcome: 'exported 7 events, 1 acceptances, 1 requests' });
      // no raw name in the audit log
      expect(JSON.stringify(rows)).not.toMatch(/alice/i);
    } finally {
      await t.platform.close();
    }
    const verify = await runCli(['audit', 'verify'], { env, timeoutMs: 180_000 });
    expect(verify.code).toBe(0);
  }, 600_000);
});
