import { readFileSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLogFor } from '../../core/audit/log.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { tempDir } from '../helpers/tmp.ts';

// `fairwatch audit verify` on real data directories: intact, edited through SQL, rows deleted
// through SQL; and run through a running console (control socket) after a first-run setup done
// over a real socket.

const dirs = [tempDir(), tempDir()];
afterAll(() => dirs.forEach((d) => d.cleanup()));
const env = (dir: string) => ({ FAIRWATCH_DATA_DIR: dir, FAIRWATCH_CONSOLE_PORT: '0' });

async function withStore(dir: string, fn: (t: Awaited<ReturnType<typeof openTestPlatform>>) => Promise<void>) {
  const t = await openTestPlatform({ dataDir: dir });
  try {
    await fn(t);
  } finally {
    await t.platform.close();
  }
}

describe('fairwatch audit verify', () => {
  it('says ok for an intact chain and names the row edited with ALTER TABLE … UPDATE', async () => {
    const dir = dirs[0]!.dir;
    await withStore(dir, async ({ platform: p }) => {
      const log = auditLogFor(p.store, p.redis);
      for (let i = 0; i < 6; i++) await log.append({ actor: 'system', actorRole: '', action: 'report.view', target: `r${i}`, reason: '', outcome: 'allowed' });
    });
    const ok = await runCli(['audit', 'verify'], { env: env(dir), timeoutMs: 180_000 });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe('ok 6 rows');
    await withStore(dir, async ({ platform: p }) => {
      await p.store.command("ALTER TABLE fairwatch.audit_log UPDATE outcome = 'refused-403' WHERE seq = 3", undefined, { mutations_sync: '2' });
    });
    const bad = await runCli(['audit', 'verify'], { env: env(dir), timeoutMs: 180_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/broken at seq 3: row 3 .*edited/);
  }, 300_000);

  it('through a running console: first-run setup over a real socket, verify forwarded, then a DELETE is named', async () => {
    const dir = dirs[1]!.dir;
    const running = startCli(['console'], { env: env(dir), timeoutMs: 180_000 });
    try {
      await running.ready;
      const out = running.output().stdout;
      const url = /console on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
      // the link itself is not in the output: it says which 0600 file holds it
      expect(out).not.toMatch(/\/setup\//);
      const file = /is in\s+(\S+setup-link\.txt) \(readable by this account only\)/.exec(out)![1]!;
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const setup = /^(http:\/\/127\.0\.0\.1:\d+\/setup\/[A-Za-z0-9_-]{43})\n$/.exec(readFileSync(file, 'utf8'))![1]!;
      expect((await fetch(setup)).status).toBe(200);
      const post = (body: string) => fetch(setup, { method: 'POST', headers: { origin: url, 'content-type': 'application/x-www-form-urlencoded' }, body, redirect: 'manual' });
      // a too-short password is named and does not use the link up
      const typo = await post('username=dana&password=short');
      expect(typo.status).toBe(400);
      expect(await typo.text()).toMatch(/password: at least 10 characters/);
      // two forms at once: one director
      const [a, b] = await Promise.all([post('username=dana&password=a+long+enough+password'), post('username=dave&password=a+long+enough+password')]);
      expect([a.status, b.status].sort()).toEqual([200, 404]);
      const created = a.status === 200 ? a : b;
      expect(await created.text()).toMatch(/id="totp-secret">[A-Z2-7]{16,}</);
      const who = a.status === 200 ? 'dana' : 'dave';
      // single use
      expect((await fetch(setup)).status).toBe(404);
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: who, password: 'wrong password' }) });
        expect(r.status).toBe(401);
      }
      const forwarded = await runCli(['audit', 'verify'], { env: env(dir), timeoutMs: 180_000 });
      expect(forwarded.code).toBe(0);
      // setup: typo (400), winner, loser (404); then three failed sign-ins
      expect(forwarded.stdout.trim()).toBe('ok 6 rows');
    } finally {
      expect(await running.stop()).toBe(0);
    }
    await withStore(dir, async ({ platform: p }) => {
      await p.store.command('ALTER TABLE fairwatch.audit_log DELETE WHERE seq = 2', undefined, { mutations_sync: '2' });
    });
    const bad = await runCli(['audit', 'verify'], { env: env(dir), timeoutMs: 180_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/broken at seq 2: row 2 is missing/);
  }, 300_000);
});
