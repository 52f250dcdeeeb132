import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { PolicySnapshot } from '../../core/policy/engine.ts';
import { loadLists } from '../../core/policy/lists.ts';
import { tempDir } from '../helpers/tmp.ts';
import { pseudonyms, SMALL, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

const run = promisify(execFile);
let origin: Origin;
let px: TestProxy;

beforeAll(async () => {
  origin = await startOrigin();
  px = await startProxy();
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

async function curl(args: string[]): Promise<{ stdout: string; code: number }> {
  try {
    const r = await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', px.url, ...args], { maxBuffer: 1 << 24 });
    return { stdout: r.stdout, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; code?: number };
    return { stdout: err.stdout ?? '', code: err.code ?? 1 };
  }
}

describe('plain HTTP forwarding', () => {
  it('curl -x fetches through the proxy and one event records it without the query string', async () => {
    const before = px.sink.events.length;
    const r = await curl(['-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${origin.url}/small?secret=1`]);
    expect(r.stdout).toBe('200 1024');
    const events = (await px.events(before + 1)).slice(before);
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e).toMatchObject({
      method: 'GET', scheme: 'http', host: '127.0.0.1', port: origin.port, path: '/small', status: 200,
      content_type: 'text/plain', filename: 'small', category: '', action: 'allow', rule: 'default', source: 'proxy', user_group: 'guests',
      user_pseudonym: pseudonyms.client('127.0.0.1'), client_pseudonym: pseudonyms.client('127.0.0.1'),
    });
    expect(e.query).toBeUndefined();
    expect(JSON.stringify(e)).not.toContain('secret');
    expect(e.event_id).toMatch(/^[0-9a-f-]{36}$/);
    // headers + body both ways, counted on the socket
    expect(e.bytes_down).toBeGreaterThan(1024);
    expect(e.bytes_down).toBeLessThan(1024 + 400);
    expect(e.bytes_up).toBeGreaterThan(40);
  });

  it('undici ProxyAgent: request and response bodies stream both ways, hop-by-hop headers are dropped', async () => {
    const agent = new ProxyAgent({ uri: px.url, token: 'Basic bm9ib2R5Om5vdGhpbmc=', proxyTunnel: false });
    const body = Buffer.alloc(300_000, 3);
    const res = await request(`${origin.url}/echo`, {
      dispatcher: agent, method: 'POST', body,
      headers: { 'content-type': 'application/octet-stream', 'x-custom': 'passes', te: 'trailers' },
    });
    expect(res.statusCode).toBe(200);
    const seen = (await res.body.json()) as { method: string; url: string; headers: Record<string, string>; bodyLength: number };
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/echo');
    expect(seen.bodyLength).toBe(body.length);
    expect(seen.headers['x-custom']).toBe('passes');
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBeUndefined();
    expect(seen.headers.host).toBe(`127.0.0.1:${origin.port}`);
    // response hop-by-hop headers and the ones Connection names are removed too
    expect(res.headers['x-hop-only']).toBeUndefined();
    expect(res.headers['x-hop']).toBe('kept');
    await agent.close();
  });

  it('records the filename from Content-Disposition, the path for files, none for pages', async () => {
    const before = px.sink.events.length;
    const codes: string[] = [];
    for (const p of ['/attachment', '/files/report.pdf', '/page']) {
      const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${origin.url}${p}`]);
      codes.push(r.stdout);
    }
    // the installer is blocked for this group (no software-download permission) but still named
    expect(codes).toEqual(['403', '200', '200']);
    const events = (await px.events(before + 3)).slice(before);
    expect(events[0]).toMatchObject({ action: 'block', rule: 'software-download' });
    expect(events[0]!.flags).toContain('executable');
    expect(events.map((e) => [e.path, e.content_type, e.filename])).toEqual([
      ['/attachment', 'application/octet-stream', 'setup tool.exe'],
      ['/files/report.pdf', 'application/pdf', 'report.pdf'],
      ['/page', 'text/html', ''],
    ]);
  });

  it('keeps connections to the origin alive between requests', async () => {
    const seen = new Set<string>();
    const onReq = (req: import('node:http').IncomingMessage) => seen.add(`${req.socket.remotePort}`);
    origin.server.on('request', onReq);
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
    for (let i = 0; i < 5; i++) {
      const res = await request(`${origin.url}/small`, { dispatcher: agent });
      await res.body.arrayBuffer();
    }
    origin.server.off('request', onReq);
    expect(seen.size).toBe(1);
    await agent.close();
  });

  it('an origin-form request (the proxy addressed as a web site) gets 400 with advice and an event', async () => {
    const before = px.sink.events.length;
    const r = await run('curl', ['-sS', '-w', '\n%{http_code}', `${px.url}/index.html`]);
    expect(r.stdout).toMatch(/web proxy, not a web site[\s\S]*\n400$/);
    const [e] = (await px.events(before + 1)).slice(before);
    expect(e).toMatchObject({ status: 400, action: 'error', path: '' });
    expect(e!.flags).toContain('malformed');
  });

  it('upstream unreachable gives 502 with a readable page', async () => {
    const closed = await startOrigin();
    await closed.close();
    const before = px.sink.events.length;
    const r = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${closed.port}/x`]);
    // the same words whether refused, reset or unanswered: a port scan learns nothing from the page
    expect(r.stdout).toMatch(/could not be reached[\s\S]*\n502$/);
    expect(r.stdout).not.toMatch(/ECONNREFUSED/);
    const [e] = (await px.events(before + 1)).slice(before);
    expect(e).toMatchObject({ status: 502, port: closed.port });
    expect(e!.flags).toContain('upstream-unreachable');
  });

  it('the body of a small response arrives intact', async () => {
    const r = await curl([`${origin.url}/small`]);
    expect(r.stdout).toBe(SMALL.toString());
  });
});

describe('URL entries with a query, through the proxy', () => {
  it('a urls line such as forumdisplay.php?f=13 blocks that page: the proxy passes the query to the policy', async () => {
    const tmp = tempDir('fw-fwd-lists-');
    mkdirSync(join(tmp.dir, 'games'));
    writeFileSync(join(tmp.dir, 'games', 'urls'), '127.0.0.1/forumdisplay.php?f=13\n');
    const config = parseConfig('policy:\n  rules:\n    - { categories: [games], action: block, clause: "No games." }\n', 'fwd.yaml');
    const snapshot = new PolicySnapshot(config.policy, config.organisation.timezone, await loadLists(tmp.dir));
    const gp = await startProxy({ engine: () => snapshot });
    try {
      const decided = async (path: string) => {
        const before = gp.sink.events.length;
        await run('curl', ['-sS', '--max-time', '20', '--noproxy', '', '-x', gp.url, '-o', '/dev/null', `${origin.url}${path}`]).catch(() => undefined);
        return (await gp.events(before + 1)).slice(before)[0]!.action;
      };
      expect(await decided('/forumdisplay.php?f=13')).toBe('block');
      expect(await decided('/forumdisplay.php?f=13&page=2')).toBe('block');
      expect(await decided('/forumdisplay.php?f=12')).toBe('allow');
      expect(await decided('/forumdisplay.php')).toBe('allow');
    } finally {
      await gp.close();
      tmp.cleanup();
    }
  });
});
