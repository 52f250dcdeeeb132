import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sessions } from '../../dashboards/security/session.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { openConsole, PASSWORD, subjectEvent, type Account } from './harness.ts';

// The evidence-pack export of an investigation, end to end: downloaded from the real console app,
// written to a file, checked by the real `fairwatch evidence verify`, then tampered with.

let h: Awaited<ReturnType<typeof openConsole>>;
let dana: Account;
let ian: Account;
let investigation = '';
let blockedOnly = '';
const out = tempDir('fw-evidence-export-');

// yesterday 10:00 UTC: inside the events TTL (a date months ago would be dropped on insert)
const base = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000 + 10 * 3_600_000;
const window = { from: new Date(base - 3_600_000).toISOString(), to: new Date(base + 2 * 3_600_000).toISOString() };

async function download(path: string, cookie: string, body: Record<string, string> = {}) {
  const res = await h.app.request(path, {
    method: 'POST',
    headers: { cookie, origin: 'http://localhost', 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

const tar = (args: string[]) => {
  const r = spawnSync('tar', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr}`);
};

beforeAll(async () => {
  h = await openConsole();
  dana = await h.addUser('dana', 'director', 'managers');
  await h.addUser('sam', 'staff');
  ian = await h.addUser('ian', 'it', 'it');
  const subject = h.p.pseudonyms.user('sam');
  const ev = (min: number, extra: Record<string, unknown>) => subjectEvent(subject, base, min, extra);
  await h.p.store.insert('events', [
    ev(0, {}), ev(2, {}), ev(3, { host: 'files.example', filename: 'setup.exe', content_type: 'application/octet-stream' }),
    ev(30, { host: 'casino.example', action: 'block', category: 'gambling', rule: 'rule:2', status: 403 }),
    ev(-600, { host: 'before-window.example' }),
    { ...ev(1, { host: 'someone-else.example' }), user_pseudonym: h.p.pseudonyms.user('ian') },
  ]);
  const d = await h.sessionFor(dana);
  const open = async (kinds: string) => {
    const r = await h.request('POST', '/api/investigations', { cookie: d.cookie, json: { subject: 'sam', allegation: 'gambling at work', ...window, kinds, expires_in_minutes: 240 } });
    expect(r.status).toBe(201);
    return JSON.parse(r.text).id as string;
  };
  investigation = await open('visits,downloads,uploads,blocked');
  blockedOnly = await open('blocked');
}, 120_000);
afterAll(async () => {
  out.cleanup();
  await h?.cleanup();
});

describe('evidence pack export', () => {
  it('downloads a tar.gz that `fairwatch evidence verify` accepts, and rejects once one byte of events.csv changed', async () => {
    const d = await h.sessionFor(dana);
    const auditBefore = await h.deps.audit.count();
    const res = await download(`/api/investigations/${investigation}/evidence`, d.cookie);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="evidence-${investigation}.tar.gz"`);
    expect(res.bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const [row] = await h.deps.audit.list(1);
    expect((await h.deps.audit.count()) - auditBefore).toBe(1);
    expect(row).toMatchObject({ action: 'investigation.export', actor: dana.userId, outcome: 'allowed' });

    const file = join(out.dir, `evidence-${investigation}.tar.gz`);
    writeFileSync(file, res.bytes);
    const env = { FAIRWATCH_DATA_DIR: h.dataDir };
    const ok = await runCli(['evidence', 'verify', file], { env });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok 2 files, signed by this installation's evidence key, audit head seq \d+ hash [0-9a-f]{64}\n$/);

    // the subject's four records in the window, nobody else's, nothing outside it
    const unpacked = join(out.dir, 'unpacked');
    mkdirSync(unpacked);
    tar(['-xzf', file, '-C', unpacked]);
    expect(readdirSync(unpacked).sort()).toEqual(['events.csv', 'events.json', 'manifest.json', 'manifest.sig']);
    const csvPath = join(unpacked, 'events.csv');
    const csv = readFileSync(csvPath, 'utf8');
    for (const host of ['news.example', 'files.example', 'casino.example']) expect(csv).toContain(host);
    expect(csv).not.toContain('before-window.example');
    expect(csv).not.toContain('someone-else.example');
    expect(JSON.parse(readFileSync(join(unpacked, 'events.json'), 'utf8')).rows).toHaveLength(4);

    const bytes = readFileSync(csvPath);
    const at = bytes.indexOf('casino');
    bytes[at] = 'k'.charCodeAt(0);
    writeFileSync(csvPath, bytes);
    const tampered = join(out.dir, 'tampered.tar.gz');
    tar(['-czf', tampered, '-C', unpacked, '.']);
    const bad = await runCli(['evidence', 'verify', tampered], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('events.csv: SHA-256 does not match the manifest');

    const empty = join(out.dir, 'empty');
    mkdirSync(empty);
    const noManifest = join(out.dir, 'no-manifest.tar.gz');
    tar(['-czf', noManifest, '-C', empty, '.']);
    const missing = await runCli(['evidence', 'verify', noManifest], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${noManifest}/manifest.json: no manifest`);

    const notTar = join(out.dir, 'garbage.tar.gz');
    writeFileSync(notTar, 'not a tarball');
    const garbage = await runCli(['evidence', 'verify', notTar], { env });
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain(`${notTar}: cannot be unpacked`);
  }, 120_000);

  it('keeps only the kinds of record the investigation names', async () => {
    const d = await h.sessionFor(dana);
    const res = await download(`/investigations/${blockedOnly}/evidence`, d.cookie);
    expect(res.status).toBe(200);
    const file = join(out.dir, 'blocked.tar.gz');
    writeFileSync(file, res.bytes);
    const dir = join(out.dir, 'blocked');
    mkdirSync(dir);
    tar(['-xzf', file, '-C', dir]);
    const rows = JSON.parse(readFileSync(join(dir, 'events.json'), 'utf8')).rows as unknown[][];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('casino.example');
  });

  it('asks for re-authentication after five minutes, accepts the password, refuses a wrong one; each attempt audited', async () => {
    const stale = new Sessions(h.p.redis, { idleMinutes: 60, maxHours: 12 }, () => Date.now() - 10 * 60_000);
    const d = await h.sessionFor(dana, stale);
    const path = `/api/investigations/${investigation}/evidence`;
    const lastAudit = async () => (await h.deps.audit.list(1))[0]!;

    const noProof = await download(path, d.cookie);
    expect(noProof.status).toBe(403);
    expect(noProof.bytes.toString('utf8')).toContain('re-authentication needed');
    expect(await lastAudit()).toMatchObject({ action: 'investigation.export', outcome: 'refused-403' });

    const wrong = await download(path, d.cookie, { password: 'not my password' });
    expect(wrong.status).toBe(403);
    expect(await lastAudit()).toMatchObject({ action: 'investigation.export', outcome: 'refused-403' });

    const good = await download(path, d.cookie, { password: PASSWORD });
    expect(good.status).toBe(200);
    expect(good.bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(await lastAudit()).toMatchObject({ action: 'investigation.export', outcome: 'allowed' });
  });

  it('refuses someone without a grant (403) and an unknown investigation (404), audited, leaving no temp directory behind', async () => {
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('fairwatch-evidence-')).length;
    const i = await h.sessionFor(ian);
    expect((await download(`/api/investigations/${investigation}/evidence`, i.cookie)).status).toBe(403);
    expect((await h.deps.audit.list(1))[0]).toMatchObject({ action: 'investigation.export', actor: ian.userId, outcome: 'refused-403' });
    const d = await h.sessionFor(dana);
    expect((await download(`/api/investigations/${randomUUID()}/evidence`, d.cookie)).status).toBe(404);
    expect((await h.deps.audit.list(1))[0]).toMatchObject({ action: 'investigation.export', outcome: 'refused-404' });
    expect((await download(`/api/investigations/${investigation}/evidence`, d.cookie)).status).toBe(200);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('fairwatch-evidence-')).length).toBe(before);
  });
});
