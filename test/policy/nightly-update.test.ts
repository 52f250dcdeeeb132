import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyserRole } from '../../analyser/role.ts';
import { auditLogFor } from '../../core/audit/log.ts';
import { parseConfig } from '../../core/config/load.ts';
import { Platform } from '../../core/platform.ts';
import { pollUntil } from '../helpers/poll.ts';
import { tempDir } from '../helpers/tmp.ts';

// blocklists.update in the real analyser role: its cron (every second here) fetches a tar.gz from
// a web server the test runs; a good set replaces the lists, a set missing a category a rule names
// is swapped in, found wanting and rolled back, a corrupt archive is refused before the swap; each
// run leaves an audit row.

const tmp = tempDir('fw-nightly-lists-');
let server: Server | undefined;
afterAll(async () => {
  await new Promise((r) => (server ? server.close(r) : r(null)));
  tmp.cleanup();
});

function archive(name: string, cats: Record<string, string>): string {
  const src = join(tmp.dir, name, 'blacklists');
  for (const [c, domains] of Object.entries(cats)) {
    mkdirSync(join(src, c), { recursive: true });
    writeFileSync(join(src, c, 'domains'), domains);
  }
  const file = join(tmp.dir, `${name}.tar.gz`);
  expect(spawnSync('tar', ['-czf', file, '-C', join(tmp.dir, name), 'blacklists']).status).toBe(0);
  return file;
}

describe('nightly blocklist update with automatic rollback', () => {
  it('updates, rolls back a set missing a ruled category, refuses a corrupt one; audited', async () => {
    const lists = join(tmp.dir, 'lists');
    cpSync(join(import.meta.dirname, '../fixtures/blocklists'), lists, { recursive: true });
    const files = {
      good: archive('good', { gambling: 'new-bets.example\n', games: 'new-games.example\n' }),
      missing: archive('missing', { games: 'only-games.example\n' }),
      corrupt: join(tmp.dir, 'corrupt.tar.gz'),
    };
    writeFileSync(files.corrupt, 'not a gzip file');
    let serving: keyof typeof files = 'good';
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/gzip' }).end(readFileSync(files[serving])));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/blacklists.tar.gz`;

    const yaml = `policy:\n  rules:\n    - { categories: [gambling, games], action: block, clause: "No gambling or games." }\nblocklists:\n  update:\n    source: "${url}"\n    schedule: "* * * * * *"\n`;
    const p = await Platform.open({ role: 'analyser', loaded: { config: parseConfig(yaml, 'test.yaml'), runtime: { dataDir: join(tmp.dir, 'data'), configPath: null, blocklistsDir: lists, clickhouseUrl: null, redisUrl: null } }, store: true, redis: true, env: {} });
    const role = await analyserRole.start(p);
    try {
      expect(role.summary).toContain('blocklists update (* * * * * *)');
      const audit = auditLogFor(p.store, p.redis);
      const updates = async () => (await audit.list(1000)).filter((r) => r.action === 'blocklists-update').reverse();
      const waitFor = async (outcome: string, after: number) => {
        const rows = await pollUntil(updates, (rs) => rs.some((r) => r.seq > after && r.outcome === outcome), 60_000, 100);
        const row = rows.find((r) => r.seq > after && r.outcome === outcome);
        expect(row, `no ${outcome} row; got ${JSON.stringify(rows.map((r) => [r.outcome, r.reason]))}`).toBeDefined();
        return row!;
      };

      const ok = await waitFor('ok', 0);
      expect(ok).toMatchObject({ actor: 'system', actorRole: 'analyser', target: url });
      expect(ok.reason).toMatch(/^updated from .*: 2 categories/);
      expect(readFileSync(join(lists, 'gambling', 'domains'), 'utf8')).toBe('new-bets.example\n');
      expect(readFileSync(join(lists, 'local', 'deny'), 'utf8')).toBe(readFileSync(join(import.meta.dirname, '../fixtures/blocklists/local/deny'), 'utf8'));

      serving = 'missing';
      const back = await waitFor('rolled-back', ok.seq);
      expect(back.reason).toMatch(/categories named by policy\.rules are missing from the new set: gambling; rolled back to the previous set/);
      // the live lists are the good set; the refused one is kept aside
      expect(readFileSync(join(lists, 'gambling', 'domains'), 'utf8')).toBe('new-bets.example\n');
      expect(readFileSync(join(`${lists}.previous`, 'games', 'domains'), 'utf8')).toBe('only-games.example\n');

      serving = 'corrupt';
      const refused = await waitFor('refused', back.seq);
      expect(refused.reason).toMatch(/refused before the swap, the current lists are unchanged: .*tar/);
      expect(readFileSync(join(lists, 'gambling', 'domains'), 'utf8')).toBe('new-bets.example\n');
    } finally {
      await role.stop();
      await p.close();
    }
  }, 180_000);
});
