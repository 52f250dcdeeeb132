// Console costs, measured in one run against a baseline in the same process:
//   baseline  GET /static/console.css (routing, headers, session lookup with no cookie)
//   report    GET /api/reports/:id as a director (session in Redis, user in ClickHouse, audit append, AES-GCM open)
//   grant     GET /api/reports/:id as IT with a grant (adds the grant fold, cached in Redis)
//   audit     audit appends, 50 at a time (serialized chain)
// Run: node --import tsx bench/console.ts  (about 30 s; embedded ClickHouse + managed redis-server on a temp dir)
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../core/config/load.ts';
import { Platform } from '../core/platform.ts';
import { sealReport } from '../core/reports/seal.ts';
import { createConsoleApp } from '../dashboards/app.ts';
import { consoleDeps } from '../dashboards/role.ts';
import { SESSION_COOKIE } from '../dashboards/access.ts';

const dir = mkdtempSync(join(tmpdir(), 'fw-bench-console-'));
const p = await Platform.open({
  role: 'bench', store: true, redis: true, env: {},
  loaded: { config: parseConfig('', 'bench.yaml'), runtime: { dataDir: dir, configPath: null, blocklistsDir: 'test/fixtures/blocklists', clickhouseUrl: null, redisUrl: null } },
});
try {
  const deps = consoleDeps(p);
  const { app } = createConsoleApp(deps);
  const dana = (await p.users.add({ username: 'dana', role: 'director', group: 'managers', password: 'bench password 123' })).user;
  const ian = (await p.users.add({ username: 'ian', role: 'it', group: 'it', password: 'bench password 123' })).user;
  const id = randomUUID();
  const now = new Date().toISOString();
  await p.store.insert('reports', [{ report_id: id, kind: 'audit', period_from: now, period_to: now, created_at: now, row_counts: {}, ...sealReport(deps.reportKey, id, JSON.stringify({ html: '<p>x</p>'.repeat(200), json: { rows: Array.from({ length: 200 }, (_, i) => i) } })) }]);
  const req = await deps.authz.request({ subject: 'report-access', target: id, requester: ian.userId, reason: 'bench' });
  await deps.authz.decide(req.id, 'approve', dana.userId, { expiresAt: Date.now() + 3_600_000 });
  const cookie = async (userId: string, role: 'director' | 'it') => `${SESSION_COOKIE}=${(await deps.sessions.create(userId, role)).id}`;
  const dc = await cookie(dana.userId, 'director');
  const ic = await cookie(ian.userId, 'it');

  async function time(name: string, n: number, fn: () => Promise<unknown>): Promise<number> {
    for (let i = 0; i < Math.min(20, n); i++) await fn(); // warm-up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
    console.log(`${name.padEnd(10)} ${ms.toFixed(2).padStart(8)} ms/op  (${n} ops)`);
    return ms;
  }
  const ok = async (path: string, c?: string) => {
    const res = await app.request(path, { headers: c ? { cookie: c } : {} });
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    await res.arrayBuffer();
  };
  const base = await time('baseline', 300, () => ok('/static/console.css'));
  const report = await time('report', 150, () => ok(`/api/reports/${id}`, dc));
  const grant = await time('grant', 150, () => ok(`/api/reports/${id}`, ic));
  const t0 = process.hrtime.bigint();
  const N = 500;
  for (let i = 0; i < N; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => deps.audit.append({ actor: 'system', actorRole: '', action: 'bench', target: String(i + j), reason: '', outcome: 'allowed' })));
  }
  const perAppend = Number(process.hrtime.bigint() - t0) / 1e6 / N;
  console.log(`audit      ${perAppend.toFixed(2).padStart(8)} ms/append  (${N} appends, 50 concurrent)`);
  const v = await deps.audit.verify();
  console.log(`verify     ${v.ok ? 'ok' : 'BROKEN'} ${v.rows} rows`);
  console.log(`ratios vs baseline: report ${(report / base).toFixed(1)}x, grant ${(grant / base).toFixed(1)}x, audit append ${(perAppend / base).toFixed(1)}x`);
  console.log('(taken on a shared, busy 2-core machine: compare ratios, not absolute times)');
} finally {
  await p.close();
  rmSync(dir, { recursive: true, force: true });
}
