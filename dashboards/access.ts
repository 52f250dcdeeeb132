import type { Context, Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { Role, UserRecord } from '../core/identity/users.ts';
import type { ConsoleDeps } from './deps.ts';
import type { Session } from './security/session.ts';
import { message, page, type Fragment } from './views/layout.ts';
import { FairwatchError } from '../core/errors.ts';

// Every console route is declared with a rule: who may call it, and whether each attempt goes into
// the audit chain. The guard applies the rule on the server before the handler runs; handlers then
// check grants and ownership on the resource itself. The rule list is exported so the security
// tests walk every route the app has.

export type Who = 'anyone' | 'signed-in' | readonly Role[];

export interface RouteRule {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  who: Who;
  /**
   * a machine API that authenticates each request with a bearer token itself (SCIM): no session,
   * the body left unread for the handler (who must be 'anyone')
   */
  bearer?: true;
  /** audit action written for every attempt, allowed or refused */
  audit?: string;
  /** form posts that must not carry the per-session token (sign-in, first-run setup) */
  noSessionToken?: boolean;
}

export interface Vars {
  session: Session | null;
  sessionId: string | null;
  user: UserRecord | null;
  body: Record<string, unknown>;
}
export type Env = { Variables: Vars };
export type Ctx = Context<Env>;

/** An error that carries the status to answer with; thrown anywhere, answered in one place. */
/** A refusal the console answers with `status` and the message; thrown by routes. */
export class HttpError extends FairwatchError {
  declare readonly httpStatus: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503;
  constructor(status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503, message: string) {
    super('FW_HTTP', message, { httpStatus: status });
  }
  get status(): 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 503 {
    return this.httpStatus;
  }
}

export const SESSION_COOKIE = 'fw_session';
export const SECURE_SESSION_COOKIE = '__Host-fw_session';
export const REAUTH_MS = 5 * 60_000;

export function isApi(c: Ctx): boolean {
  return c.req.path.startsWith('/api/');
}

export async function frame(deps: ConsoleDeps, c: Ctx, title: string, body: Fragment, status = 200) {
  const s = c.get('session');
  const user = c.get('user');
  let pending: number | undefined;
  let alerts: number | undefined;
  if (s && user && (s.role === 'director' || s.role === 'dpo')) {
    [pending, alerts] = await Promise.all([pendingCount(deps, deciderOf(deps, s, user)), deps.alerts.openCount()]);
  }
  return c.html(page({ title, orgName: deps.config.organisation.name, session: s, username: user?.username, csrf: s?.csrf, pending, alerts, path: c.req.path }, body), status as 200);
}

/**
 * Who is deciding. Requests name their requester by console user_id, or — when made from a block
 * page — by the staff pseudonym the proxy saw, so a director browsing like anyone else is
 * recognised by both.
 */
export interface Decider {
  role: Role;
  userId: string;
  pseudonym: string;
}

export function deciderOf(deps: ConsoleDeps, s: Session, user: UserRecord): Decider {
  return { role: s.role, userId: s.userId, pseudonym: deps.pseudonyms.user(user.username) };
}

/** The decider made this request themselves. */
export function isOwnRequest(d: Decider, requester: string): boolean {
  return requester === d.userId || requester === d.pseudonym;
}

/** Requests a director (or the DPO, for investigations opened by someone else) can decide now. */
export async function pendingCount(deps: ConsoleDeps, d: Decider): Promise<number> {
  const list = await deps.authz.list({ status: 'pending' });
  return list.filter((r) => canDecide(d, r.subject, r.requester)).length;
}

/** Four eyes: nobody decides their own request (an investigation they opened, an exception for themselves). */
export function canDecide(d: Decider, subject: string, requester: string): boolean {
  return roleDecides(d.role, subject) && !isOwnRequest(d, requester);
}

/** Directors decide requests; the DPO may be the second approver of an investigation or a subject access request. */
export function roleDecides(role: Role, subject: string): boolean {
  return role === 'director' || ((subject === 'investigation' || subject === 'subject-access') && role === 'dpo');
}

export function fail(deps: ConsoleDeps, c: Ctx, status: number, text: string) {
  if (isApi(c)) return c.json({ error: text }, status as 400);
  const title = status === 401 ? 'Sign in needed' : status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something was wrong';
  const body = html`${message('error', text)}${status === 401 ? html`<p><a href="/login">Sign in</a></p>` : ''}`;
  return frame(deps, c, title, body, status);
}

async function readBody(c: Ctx): Promise<Record<string, unknown>> {
  if (c.req.method === 'GET') return {};
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const length = Number(c.req.header('content-length') ?? 0);
  if (length > 64 * 1024) throw new HttpError(413, 'request body is larger than 64 KiB');
  if (type === 'application/json') {
    try {
      const v = await c.req.json() as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      return v as Record<string, unknown>;
    } catch {
      throw new HttpError(400, 'request body: expected a JSON object');
    }
  }
  if (type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data') {
    // the API is documented as JSON: a form body there is a mistake or a cross-site attempt
    if (isApi(c)) throw new HttpError(415, `content-type: ${c.req.path} takes application/json (got ${type})`);
    const form = await c.req.parseBody();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(form)) {
      if (typeof v === 'string') out[k] = v;
      // a chosen file (the starters import) arrives as its text; the body is already capped at 64 KiB
      else if (v instanceof File && v.size > 0) out[k] = await v.text();
    }
    return out;
  }
  if (c.req.method === 'DELETE' && !type) return {};
  // anything else (text/plain, a form from a page that is not ours) is refused before it can act
  throw new HttpError(415, isApi(c) ? `content-type: ${c.req.path} takes application/json${type ? ` (got ${type})` : ''}` : 'content-type: send application/json or a form');
}

function roleAllowed(who: Who, s: Session): boolean {
  return who === 'signed-in' || who === 'anyone' || who.includes(s.role);
}

export class RouteTable {
  readonly rules: RouteRule[] = [];

  constructor(private readonly app: Hono<Env>, private readonly deps: ConsoleDeps) {}

  add(rule: RouteRule, handler: (c: Ctx) => Response | Promise<Response>): void {
    if (this.rules.some((r) => r.method === rule.method && r.path === rule.path)) throw new Error(`route ${rule.method} ${rule.path} declared twice`);
    this.rules.push(rule);
    const deps = this.deps;
    if (rule.bearer && rule.who !== 'anyone') throw new Error(`route ${rule.method} ${rule.path}: a bearer-token route checks its own token (who: 'anyone')`);
    const run = async (c: Ctx): Promise<Response> => {
      if (rule.bearer) {
        c.set('body', {});
        return handler(c);
      }
      const s = c.get('session');
      if (rule.who !== 'anyone' && !s) throw new HttpError(401, 'sign in first');
      if (s && !roleAllowed(rule.who, s)) throw new HttpError(403, `your role (${s.role}) may not use this page`);
      const body = await readBody(c);
      const isForm = !isApi(c) && c.req.method !== 'GET' && !/json/i.test(c.req.header('content-type') ?? '');
      if (isForm && !rule.noSessionToken) {
        if (!s || typeof body._csrf !== 'string' || body._csrf !== s.csrf) throw new HttpError(403, 'the form token is missing or out of date: reload the page and try again');
      }
      c.set('body', body);
      return handler(c);
    };
    // around the route: a thrown error has been answered by the app's error handler (app.ts) by now
    const audited = async (c: Ctx, next: () => Promise<void>): Promise<void> => {
      await next();
      const res = c.res;
      const reason = !c.error ? '' : res.status >= 500 ? 'internal error' : c.error.message;
      if (rule.audit) {
        const s = c.get('session');
        await deps.audit.append({
          actor: s?.userId ?? 'anonymous', actorRole: s?.role ?? '', action: rule.audit,
          target: (c.req.param('id') ?? String((res.headers.get('x-fairwatch-target') ?? ''))).slice(0, 100),
          // a handler may give the reason the person stated (a dismissal's), recorded with the allowed attempt
          reason: (reason || decodeURIComponent(res.headers.get('x-fairwatch-reason') ?? '')).slice(0, 500), outcome: res.status < 400 ? 'allowed' : `refused-${res.status}`,
        });
      }
      res.headers.delete('x-fairwatch-target');
      res.headers.delete('x-fairwatch-reason');
    };
    if (rule.method === 'GET') this.app.get(rule.path, audited, run);
    else if (rule.method === 'POST') this.app.post(rule.path, audited, run);
    else if (rule.method === 'PATCH') this.app.patch(rule.path, audited, run);
    else if (rule.method === 'PUT') this.app.put(rule.path, audited, run);
    else this.app.delete(rule.path, audited, run);
  }
}

/** Loads the session (and its user) for every request; a disabled account's session ends. */
export function sessionMiddleware(deps: ConsoleDeps) {
  return async (c: Ctx, next: () => Promise<void>) => {
    c.set('session', null);
    c.set('sessionId', null);
    c.set('user', null);
    const id = getCookie(c, deps.tls ? SECURE_SESSION_COOKIE : SESSION_COOKIE) ?? null;
    const s = await deps.sessions.get(id ?? undefined);
    if (s && id) {
      const user = await deps.users.getById(s.userId);
      if (!user || user.disabled || user.role !== s.role) {
        await deps.sessions.destroy(id);
      } else {
        c.set('session', s);
        c.set('sessionId', id);
        c.set('user', user);
      }
    }
    await next();
  };
}

export function str(body: Record<string, unknown>, name: string, opts: { required?: boolean; max?: number } = {}): string {
  const v = body[name];
  if (v === undefined || v === null || v === '') {
    if (opts.required) throw new HttpError(400, `${name}: required`);
    return '';
  }
  if (typeof v !== 'string') throw new HttpError(400, `${name}: expected text`);
  const max = opts.max ?? 2000;
  if (v.length > max) throw new HttpError(400, `${name}: at most ${max} characters`);
  return v;
}

export function int(body: Record<string, unknown>, name: string): number {
  const v = body[name];
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new HttpError(400, `${name}: expected a whole number`);
  return n;
}
