import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanHealth, type ScanFacts } from '../../core/ops/scan-health.ts';
import { scansTotal } from '../../proxy/download-scan.ts';
import { ManagedClamd } from '../../proxy/managed-clamd.ts';
import { openConsole, type Account } from '../console/harness.ts';
import { tempDir } from '../helpers/tmp.ts';

// Virus scanning on the console's /health page (and in doctor, same words). The
// sentences for each condition (pure), then the page itself with a real managed clamd that this
// test starts, ages the signatures of, and kills.

const now = Date.parse('2026-03-02T10:00:00Z');
const base: ScanFacts = {
  now, enabled: true, address: '/var/lib/fairwatch/clamav/clamd.sock', managed: true, onError: 'allow', maxMB: 25,
  databaseDir: '/var/lib/clamav', version: 'ClamAV 1.4.3/27850/Sun Mar  1 09:33:02 2026', versionError: null, installed: undefined,
  signatures: new Date('2026-03-01T09:33:02Z'), supervision: { up: true, restarts: 0, restartsLastHour: 0, logFile: '/var/lib/fairwatch/clamav/clamd.log' },
  counts: { clean: 40, infected: 2, error: 0, unscanned: 1 },
};
const item = (f: Partial<ScanFacts>, key: string) => scanHealth({ ...base, ...f }).find((i) => i.key === key);

describe('virus scanning in words', () => {
  it('all well: on, clamd answers, signatures a day old, the counts', () => {
    const items = scanHealth(base);
    expect(items.every((i) => i.level === 'ok')).toBe(true);
    expect(item({}, 'scan')!.value).toBe('on: downloads up to 25 MB are checked by a managed clamd on /var/lib/fairwatch/clamav/clamd.sock');
    expect(item({}, 'clamd')!.value).toBe('answers: ClamAV 1.4.3/27850/Sun Mar  1 09:33:02 2026; 0 restarts in the last hour, 0 restarts since start');
    expect(item({}, 'signatures')!.value).toBe('1 day old (2026-03-01T09:33:02.000Z)');
    expect(item({}, 'scans')!.value).toBe('since start: 40 clean, 2 infected (blocked), 0 failed, 1 unscanned (above scan.maxMB)');
  });
  it('off: one line, nothing else', () => {
    expect(scanHealth({ ...base, enabled: false })).toEqual([{ key: 'scan', label: 'Virus scanning', level: 'ok', value: 'off (scan.enabled)' }]);
  });
  it('signatures older than a week: a problem, with what to do', () => {
    const s = item({ signatures: new Date(now - 12 * 86_400_000) }, 'signatures')!;
    expect(s.level).toBe('bad');
    expect(s.value).toMatch(/^the signatures are 12 days old .*new viruses are not recognised$/);
    expect(s.action).toMatch(/freshclam .*clamav-freshclam.*scan\.databaseDir \(\/var\/lib\/clamav\)/);
    expect(item({ managed: false, signatures: null, version: 'ClamAV 1.4.3' }, 'signatures')).toMatchObject({ level: 'unknown', value: 'date unknown (clamd reports custom signatures only)' });
    expect(item({ signatures: null }, 'signatures')).toMatchObject({ level: 'bad', value: 'no ClamAV signatures in /var/lib/clamav (scan.databaseDir)' });
  });
  it('clamd down, restarted, failing scans, not installed, external not answering', () => {
    const down = item({ version: null, supervision: { ...base.supervision!, up: false, restarts: 2, restartsLastHour: 2 } }, 'clamd')!;
    expect(down.level).toBe('bad');
    expect(down.value).toBe('the managed clamd does not answer and is being restarted; 2 restarts in the last hour, 2 restarts since start');
    expect(down.action).toMatch(/^downloads meanwhile: they pass unscanned, flagged scan-error \(scan\.onError allow\); .*clamd\.log$/);
    expect(item({ supervision: { ...base.supervision!, restarts: 3, restartsLastHour: 3 } }, 'clamd')).toMatchObject({ level: 'warn', action: expect.stringMatching(/OOM killer/) });
    expect(item({ counts: { clean: 1, infected: 0, error: 4, unscanned: 0 }, onError: 'block' }, 'scans')).toMatchObject({ level: 'warn', action: expect.stringMatching(/4 times: they are blocked \(scan\.onError block\)/) });
    expect(item({ version: null, supervision: null, installed: null }, 'clamd')).toMatchObject({ level: 'bad', action: expect.stringMatching(/apt-get install -y clamav-daemon/) });
    expect(item({ version: null, supervision: null, installed: 'ClamAV 1.4.3' }, 'clamd')).toMatchObject({ level: 'unknown', value: expect.stringMatching(/^ClamAV 1\.4\.3: the managed clamd runs while `fairwatch start`/) });
    expect(item({ version: null, supervision: null, managed: false, address: 'clamav:3310', versionError: 'connect ECONNREFUSED' }, 'clamd')).toMatchObject({ level: 'bad', value: 'clamd at clamav:3310 (scan.clamd) does not answer: connect ECONNREFUSED' });
    expect(item({ counts: null }, 'scans')).toMatchObject({ level: 'unknown' });
  });
});

describe('the /health page with a real managed clamd', () => {
  const tmp = tempDir('fw-scan-health-');
  const db = join(tmp.dir, 'db');
  const ndb = join(db, 'fairwatch-test.ndb');
  let h: Awaited<ReturnType<typeof openConsole>>;
  let ian: Account;
  let clamd: ManagedClamd | null = null;

  beforeAll(async () => {
    mkdirSync(db);
    writeFileSync(ndb, `Fairwatch.Test.Marker:0:*:${Buffer.from('FAIRWATCH-HEALTH-MARKER').toString('hex')}\n`);
    h = await openConsole(`scan: { enabled: true, databaseDir: "${db}", maxMB: 2 }\n`);
    ian = await h.addUser('ian', 'it', 'it');
    // what the proxy role does in `fairwatch start`: its clamd on the data directory's socket
    clamd = await ManagedClamd.start(h.p.runtime.dataDir, { maxMB: 2, databaseDir: db, binary: 'clamd' });
    h.p.managedClamd = clamd;
  }, 120_000);

  afterAll(async () => {
    await clamd?.stop();
    await h?.cleanup();
    tmp.cleanup();
  });

  async function health() {
    const r = await h.request('GET', '/api/health', { cookie: (await h.sessionFor(ian)).cookie });
    expect(r.status).toBe(200);
    const items = (JSON.parse(r.text) as { items: { key: string; level: string; value: string; action?: string }[] }).items;
    return (key: string) => items.find((i) => i.key === key);
  }

  it('scanning on, clamd answers, signatures fresh, the scans this process counted', async () => {
    const before = (await scansTotal.get()).values.filter((v) => v.labels.outcome === 'infected').reduce((a, v) => a + v.value, 0);
    scansTotal.inc({ outcome: 'infected' });
    const get = await health();
    expect(get('scan')).toMatchObject({ level: 'ok', value: `on: downloads up to 2 MB are checked by a managed clamd on ${clamd!.socket}` });
    expect(get('clamd')).toMatchObject({ level: 'ok', value: expect.stringMatching(/^answers: ClamAV 1\.\d.*; 0 restarts in the last hour, 0 restarts since start$/) });
    expect(get('signatures')).toMatchObject({ level: 'ok', value: expect.stringMatching(/^less than a day old \(/) });
    expect(get('scans')!.value).toContain(`${before + 1} infected (blocked)`);
    const page = await h.request('GET', '/health', { cookie: (await h.sessionFor(ian)).cookie });
    expect(page.text).toContain('Virus signatures');
    expect(page.text).toContain('less than a day old');
  });

  it('signatures older than a week: a problem line saying to check freshclam', async () => {
    const old = new Date(Date.now() - 10 * 86_400_000);
    utimesSync(ndb, old, old);
    try {
      const s = (await health())('signatures')!;
      expect(s.level).toBe('bad');
      expect(s.value).toMatch(/^the signatures are 10 days old/);
      expect(s.action).toMatch(/freshclam/);
      // the page: a Problem line with what to do
      const page = (await h.request('GET', '/health', { cookie: (await h.sessionFor(ian)).cookie })).text;
      const li = /<li class="lvl-bad" id="health-signatures">(.*?)<\/li>/s.exec(page)?.[1] ?? '';
      expect(li).toContain('Problem');
      expect(li).toContain('the signatures are 10 days old');
      expect(li).toMatch(/What to do: freshclam updates them several times a day/);
    } finally {
      utimesSync(ndb, new Date(), new Date());
    }
  });

  it('clamd killed: not answering while it is restarted, then the restart counted', async () => {
    const oldPid = clamd!.pid!;
    const exited = new Promise<void>((r) => { const t = setInterval(() => { try { process.kill(oldPid, 0); } catch { clearInterval(t); r(); } }, 20); });
    clamd!.kill();
    await exited;
    const down = (await health())('clamd')!;
    expect(down.level).toBe('bad');
    expect(down.value).toMatch(/^the managed clamd does not answer/);
    expect(down.action).toMatch(/clamd\.log/);
    // bounded: the restart loads one signature
    let back: { level: string; value: string } | undefined;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      back = (await health())('clamd');
      // answering can come a moment before the supervisor has counted the restart
      if (back?.level === 'ok' && back.value.endsWith('1 restart since start')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(back).toMatchObject({ level: 'ok', value: expect.stringMatching(/; 1 restart in the last hour, 1 restart since start$/) });
  }, 90_000);
});
