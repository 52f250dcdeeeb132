import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleApp } from '../../dashboards/app.ts';
import { consoleDeps } from '../../dashboards/role.ts';
import { openConsole } from './harness.ts';

// An error no route expected (here: the table a page reads is gone) is answered 500 without its
// details, and logged through the console's logger with the request it happened on.

let h: Awaited<ReturnType<typeof openConsole>>;
beforeAll(async () => {
  h = await openConsole();
});
afterAll(async () => h?.cleanup());

describe('an internal error in the console', () => {
  it('answers 500 with no detail and logs the error through pino', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const out = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
    const { app } = createConsoleApp(consoleDeps(h.p, { log: pino({ level: 'info' }, out) }));
    const director = await h.addUser('dora', 'director', 'office');
    const { cookie } = await h.sessionFor(director);
    expect((await app.request('/reports', { headers: { cookie } })).status).toBe(200);
    expect(lines).toEqual([]);

    await h.p.store.command(`DROP TABLE ${h.p.store.database}.reports`);
    const res = await app.request('/reports', { headers: { cookie } });
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(text).toContain('something went wrong; the error was logged');
    expect(text).not.toMatch(/reports.*(does not exist|UNKNOWN_TABLE)/i);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, msg: 'console request failed', method: 'GET', path: '/reports' });
    expect(JSON.stringify(lines[0]!.err)).toMatch(/reports/);
  });
});
