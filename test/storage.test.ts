import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../core/config/load.ts';
import { Platform } from '../core/platform.ts';
import { migrate } from '../core/storage/migrations.ts';
import { isAlive } from '../core/storage/redis.ts';
import { prepareDataDir } from '../core/storage/datadir.ts';
import { tempDir } from './helpers/tmp.ts';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const open = () => Platform.open({
  role: 'test',
  loaded: { config: parseConfig('', 't.yaml'), runtime: { dataDir: tmp.dir, configPath: null, blocklistsDir: '', clickhouseUrl: null, redisUrl: null } },
  store: true,
  redis: true,
  env: {},
});

async function schema(p: Platform): Promise<string> {
  const rows = await p.store.rows<{ name: string; create_table_query: string }>(
    "SELECT name, create_table_query FROM system.tables WHERE database = 'fairwatch' ORDER BY name");
  return rows.map((r) => r.create_table_query).join('\n');
}

describe('storage on the real embedded ClickHouse and a managed redis-server', () => {
  let redisPid = 0;

  it('creates every contract table and column; migrations run twice give the same schema', async () => {
    const p = await open();
    try {
      const before = await schema(p);
      for (const t of ['events', 'reports', 'audit_log', 'authorisations', 'aup_acceptances', 'users', 'schema_migrations']) {
        expect(before).toContain(`fairwatch.${t}`);
      }
      const cols = (await p.store.rows<{ name: string; type: string }>("SELECT name, type FROM system.columns WHERE database='fairwatch' AND table='events'"));
      const byName = Object.fromEntries(cols.map((c) => [c.name, c.type]));
      expect(byName).toMatchObject({
        ts: "DateTime64(3, 'UTC')", event_id: 'UUID', user_pseudonym: 'String', user_group: 'LowCardinality(String)',
        client_pseudonym: 'String', status: 'UInt16', bytes_up: 'UInt64', bytes_down: 'UInt64',
      });
      for (const c of ['method', 'scheme', 'host', 'port', 'path', 'duration_ms', 'content_type', 'filename', 'category', 'action', 'rule']) expect(byName[c]).toBeDefined();
      expect(before).toMatch(/PARTITION BY toYYYYMM\(ts\)/);
      expect(before).toMatch(/TTL toDateTime\(ts\) \+ toIntervalDay\(90\)/);
      const again = await migrate(p.store, p.config.retention);
      expect(again.applied).toEqual([]);
      expect(await schema(p)).toBe(before);
      // a retention change updates the TTL without a new migration
      const changed = await migrate(p.store, { ...p.config.retention, eventsDays: 30 });
      expect(changed.ttlChanged).toEqual(['events', 'alerts']);
      expect(await schema(p)).toMatch(/TTL toDateTime\(ts\) \+ toIntervalDay\(30\)/);
      await migrate(p.store, p.config.retention);
      redisPid = p.managedRedis!.pid!;
      expect(isAlive(redisPid)).toBe(true);
      await p.users.add({ username: 'Dana.Director', role: 'director', group: 'managers', password: 'a long enough password' });
      await p.users.add({ username: 'sam', role: 'staff', group: 'staff', password: 'another long password' });
      await p.users.disable('sam');
    } finally {
      await p.close();
    }
    // the managed redis-server is gone after stop
    expect(isAlive(redisPid)).toBe(false);
  });

  it('a user created survives a full restart, with the newest row winning; a killed insert leaves no batch file behind', async () => {
    // what a process killed between writing a Native batch and inserting it leaves
    mkdirSync(join(tmp.dir, 'insert-batches'), { recursive: true });
    writeFileSync(join(tmp.dir, 'insert-batches', 'batch-999999-7.native'), Buffer.alloc(1024));
    const p = await open();
    try {
      expect(readdirSync(join(tmp.dir, 'insert-batches'))).toEqual([]);
      expect(p.managedRedis!.pid).not.toBe(redisPid);
      const users = await p.users.list();
      expect(users.map((u) => [u.username, u.role, u.group, u.disabled])).toEqual([
        ['dana.director', 'director', 'managers', false],
        ['sam', 'staff', 'staff', true],
      ]);
      expect(await p.users.authenticate('dana.director', 'a long enough password')).not.toBeNull();
      expect(await p.users.authenticate('dana.director', 'wrong password!!')).toBeNull();
      expect(await p.users.authenticate('sam', 'another long password')).toBeNull(); // disabled
      const rec = await p.users.get('DANA.DIRECTOR');
      expect(rec!.passwordHash).toMatch(/^\$argon2id\$/);
      expect(rec!.totpSecret).toMatch(/^[A-Z2-7]{16,}$/);
      await expect(p.users.add({ username: 'sam', role: 'staff', group: 'staff', password: 'xxxxxxxxxxxx' })).rejects.toThrow(/already exists/);
    } finally {
      await p.close();
    }
  });

  it('keys are created once with mode 0600 in a 0700 directory', () => {
    for (const k of ['pseudonym', 'report-master', 'page-token']) {
      const f = join(tmp.dir, 'keys', `${k}.key`);
      expect(existsSync(f)).toBe(true);
      expect(statSync(f).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(tmp.dir, 'keys')).mode & 0o777).toBe(0o700);
  });

  it('an existing data directory open to others is tightened to 0700 at start', () => {
    const dir = join(tmp.dir, 'loose-data');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    prepareDataDir(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('no table but users has a raw user name', async () => {
    const p = await open();
    try {
      const cols = await p.store.rows<{ table: string; name: string }>(
        "SELECT table, name FROM system.columns WHERE database='fairwatch' AND table != 'users'");
      for (const c of cols) expect(`${c.table}.${c.name}`).not.toMatch(/\.(user_?name|user|client_ip|ip|ip_address|remote_addr)$/);
    } finally {
      await p.close();
    }
  });
});
