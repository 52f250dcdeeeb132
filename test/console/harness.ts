import { randomUUID } from 'node:crypto';
import { generate } from 'otplib';
import { Authorisations } from '../../core/authorisation/store.ts';
import type { Role } from '../../core/identity/users.ts';
import type { Platform } from '../../core/platform.ts';
import { sealReport } from '../../core/reports/seal.ts';
import { createConsoleApp } from '../../dashboards/app.ts';
import type { ConsoleDeps } from '../../dashboards/deps.ts';
import { consoleDeps } from '../../dashboards/role.ts';
import { SESSION_COOKIE } from '../../dashboards/access.ts';
import { openTestPlatform } from '../helpers/platform.ts';

// A console on a real platform (managed redis-server + embedded ClickHouse), driven through
// app.request: real sessions, real audit chain, real authorisation rows.

export const PASSWORD = 'correct horse battery staple';
export const ORIGIN = 'http://localhost';

/**
 * A stored event of `subject` `min` minutes after `base` (epoch ms): an allowed visit to
 * news.example unless `extra` says otherwise. For tests that need a person's activity in a window.
 */
export function subjectEvent(subject: string, base: number, min: number, extra: Record<string, unknown> = {}) {
  return {
    ts: new Date(base + min * 60_000).toISOString(), event_id: randomUUID(), user_pseudonym: subject, user_group: 'staff', client_pseudonym: 'c1',
    method: 'GET', scheme: 'https', host: 'news.example', port: 443, path: '/', status: 200, bytes_up: 0, bytes_down: 1000, duration_ms: 5,
    content_type: 'text/html', filename: '', category: 'news', action: 'allow', rule: 'default', flags: [], ...extra,
  };
}

export interface Account {
  username: string;
  userId: string;
  role: Role;
  totpSecret: string | null;
}

export async function openConsole(yaml = '') {
  const t = await openTestPlatform({ yaml, role: 'console-test' });
  const p: Platform = t.platform;
  const deps: ConsoleDeps = consoleDeps(p);
  const { app, rules } = createConsoleApp(deps);
  const accounts: Record<string, Account> = {};

  async function addUser(username: string, role: Role, group = 'staff'): Promise<Account> {
    const { user, totpSecret } = await p.users.add({ username, role, group, password: PASSWORD });
    const a = { username: user.username, userId: user.userId, role, totpSecret };
    accounts[username] = a;
    return a;
  }

  async function sessionFor(a: Account, sessions = deps.sessions) {
    const { id, session } = await sessions.create(a.userId, a.role);
    return { cookie: `${SESSION_COOKIE}=${id}`, csrf: session.csrf, id };
  }

  interface Req {
    cookie?: string;
    json?: unknown;
    form?: Record<string, string>;
    headers?: Record<string, string>;
  }
  async function request(method: string, path: string, r: Req = {}) {
    // browsers send Origin on every non-GET request; tests that play an attacker override it
    const headers: Record<string, string> = { ...(r.cookie ? { cookie: r.cookie } : {}), ...(method !== 'GET' ? { origin: ORIGIN } : {}) };
    let body: string | undefined;
    if (r.json !== undefined) {
      headers['content-type'] = 'application/json';
      headers.origin = ORIGIN;
      body = JSON.stringify(r.json);
    } else if (r.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = ORIGIN;
      body = new URLSearchParams(r.form).toString();
    }
    Object.assign(headers, r.headers ?? {});
    const res = await app.request(path, { method, headers, body });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  async function insertReport(payload: unknown, kind = 'audit'): Promise<string> {
    const id = randomUUID();
    const sealed = sealReport(deps.reportKey, id, JSON.stringify(payload));
    const now = new Date().toISOString();
    await p.store.insert('reports', [{ report_id: id, kind, period_from: now, period_to: now, created_at: now, row_counts: { hosts: 3 }, ...sealed }]);
    return id;
  }

  /** An approved grant whose approval was written `agoMs` in the past with `minutes` to run. */
  async function grant(holder: Account, approver: Account, subject: 'report-access' | 'investigation-access', target: string, minutes: number, agoMs = 0) {
    const authz = agoMs ? new Authorisations(p.store, p.redis, () => Date.now() - agoMs) : deps.authz;
    const req = await authz.request({ subject, target, requester: holder.userId, reason: 'quarterly audit' });
    await authz.decide(req.id, 'approve', approver.userId, { expiresAt: authz.nowMs() + minutes * 60_000 });
    await p.redis.del(`fairwatch:authz:target:${subject}:${target}`);
    return req.id;
  }

  const totp = (a: Account) => generate({ secret: a.totpSecret! });

  return { ...t, p, deps, app, rules, accounts, addUser, sessionFor, request, insertReport, grant, totp };
}
