import { readdirSync } from 'node:fs';
import { CONTINUE_MINUTES_DEFAULT } from '../core/policy/defaults.ts';
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Env } from './access.ts';
import type { Redis } from 'ioredis';
import type { Authorisations } from '../core/authorisation/store.ts';
import type { Config } from '../core/config/schema.ts';
import type { AccessEvent, EventSink } from '../core/events/event.ts';
import { createStreamSink } from '../core/events/stream-sink.ts';
import { hasAcceptedAup, recordAupAcceptance, warmAupCache } from '../core/identity/aup.ts';
import { PageTokenError, PageTokens, spendToken, tokenSpent, type PagePurpose, type PageTokenClaims } from '../core/identity/page-token.ts';
import { loadKey } from '../core/keys.ts';
import type { Platform } from '../core/platform.ts';
import type { Pseudonymiser } from '../core/identity/pseudonym.ts';
import { bindSignIn, signOut } from '../core/identity/sign-in-binding.ts';
import type { AuditLog } from '../core/audit/log.ts';
import type { ExternalAccounts } from '../core/identity/external-accounts.ts';
import { provisionExternal } from '../core/identity/just-in-time.ts';
import { mapClaims } from '../core/identity/oidc-claims.ts';
import { FORM_ACTION_HEADER, flowCookieName, setFlowCookie } from './routes/oidc.ts';
import { OidcError, type OidcProviders } from './security/oidc.ts';
import { deleteCookie, getCookie } from 'hono/cookie';
import type { UserDirectory } from '../core/identity/users.ts';
import { CidrSet } from '../core/net/cidr.ts';
import {
  accidentFormPage, aupAcceptedPage, aupPage, categoryLabel, exceptionFormPage, PAGE_CSS, pageHeaders, problemPage, REASON_MAX,
  requestSentPage, siteFromConfig, signedInPage, signedOutPage, signInPage, STAFF_CSS_PATH, transparencyPage, type Page, type Site,
} from '../core/pages/index.ts';
import { recordContinue } from '../core/policy/person-state.ts';
import type { Store } from '../core/storage/clickhouse.ts';

// The console routes staff reach from the proxy's pages, without a console account: the
// acceptable-use statement, sign-in for shared networks, "I need this for my work", "I reached
// this by accident", "Continue" after a warning, and the transparency page. Who is asking is
// proven by the signed page token the proxy put in the link (core/identity/page-token.ts), never
// by a name in the request. Mounted on the console app by dashboards/role.ts.

export interface StaffPagesDeps {
  config: Config;
  store: Store;
  redis: Redis;
  users: UserDirectory;
  pseudonyms: Pseudonymiser;
  authz: Authorisations;
  tokens: PageTokens;
  /** where the `continue` event goes (the pipeline's stream sink) */
  events: EventSink;
  /** the console's own address for links when console.publicUrl is unset (undefined: not linkable) */
  consoleUrl?: () => string | undefined;
  /** the category lists (FAIRWATCH_BLOCKLISTS): the transparency page names only alerted categories that exist there */
  blocklistsDir?: string;
  /** failed sign-ins, per user name and address (the console's LoginLimiter) */
  limiter?: { lockedFor(username: string, ip: string): Promise<number>; failed(username: string, ip: string): Promise<unknown>; succeeded(username: string): Promise<unknown> };
  /** identity.oidc: "Sign in with …" on the shared-computer sign-in page (with the two below) */
  oidc?: OidcProviders;
  externalAccounts?: ExternalAccounts;
  audit?: AuditLog;
  /** the console is served over TLS (Secure cookies) */
  tls?: boolean;
}

function peerAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? '';
}

function send(c: Context, page: Page): Response {
  const headers = pageHeaders(page);
  delete headers['content-length'];
  return c.body(page.html, page.status as never, headers);
}

/**
 * The "Continue to the site" link: an http(s) URL on the host the signed token names, else none.
 * The `return` parameter itself is unsigned, so without a token (or a token without a host) there
 * is no link at all: the console is not an open redirect.
 */
function returnTo(raw: string | undefined, claims: PageTokenClaims | null): string | undefined {
  const host = claims?.host?.toLowerCase();
  if (!raw || !host) return undefined;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    if (u.username || u.password) return undefined;
    if (u.hostname.replace(/^\[|\]$/g, '').toLowerCase() !== host) return undefined;
    return u.href;
  } catch {
    return undefined;
  }
}

const TOKEN_PROBLEM_TITLE: Record<string, string> = {
  FW_TOKEN_EXPIRED: 'This link has expired',
  FW_TOKEN_USED: 'This link has already been used',
  FW_TOKEN_PERSON: 'This link is for another computer',
};
const TOKEN_PROBLEM_STATUS: Record<string, number> = { FW_TOKEN_USED: 409, FW_TOKEN_PERSON: 403 };

export function staffPagesApp(deps: StaffPagesDeps): Hono {
  const app = new Hono();
  const { config } = deps;
  const signInNets = new CidrSet(config.identity.signInNetworks);

  const siteFor = (c: Context): Site => {
    // console.publicUrl, else the address the console listens on; the request's Host header only
    // when neither names a reachable address (a wildcard bind without publicUrl: set publicUrl).
    const site = siteFromConfig(config, config.console.publicUrl ?? deps.consoleUrl?.() ?? new URL(c.req.url).origin);
    return { ...site, linkedStyle: true };
  };

  const problem = (c: Context, e: unknown): Response => {
    if (e instanceof PageTokenError) {
      return send(c, problemPage(siteFor(c), TOKEN_PROBLEM_TITLE[e.code] ?? 'This link cannot be used', `${e.message}.`, TOKEN_PROBLEM_STATUS[e.code] ?? 400));
    }
    throw e;
  };

  const verify = (c: Context, token: string | undefined, purpose: PagePurpose): PageTokenClaims =>
    deps.tokens.verify(token ?? '', { purpose });

  const form = async (c: Context): Promise<Record<string, string>> => {
    const body = await c.req.parseBody();
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
    return out;
  };

  app.get(STAFF_CSS_PATH, (c) => c.body(PAGE_CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }));

  app.get('/transparency', (c) => send(c, transparencyPage(siteFor(c), config, { listedCategories: listedCategories(deps.blocklistsDir) })));

  // ---- acceptable-use statement ----
  app.get('/aup', async (c) => {
    const t = c.req.query('t');
    const site = siteFor(c);
    if (!t) return send(c, aupPage({ site, version: config.aup.version, text: config.aup.text }));
    try {
      const claims = verify(c, t, 'aup');
      const accepted = await hasAcceptedAup(deps.redis, claims.pseudonym, config.aup.version);
      return send(c, aupPage({ site, version: config.aup.version, text: config.aup.text, token: t, returnUrl: returnTo(c.req.query('return'), claims), accepted }));
    } catch (e) {
      return problem(c, e);
    }
  });

  app.post('/aup', async (c) => {
    const b = await form(c);
    try {
      const claims = verify(c, b.t, 'aup');
      await recordAupAcceptance(deps.store, deps.redis, {
        userPseudonym: claims.pseudonym, version: config.aup.version, clientPseudonym: deps.pseudonyms.client(peerAddress(c) || '0.0.0.0'),
      });
      return send(c, aupAcceptedPage(siteFor(c), config.aup.version, returnTo(b.return, claims)));
    } catch (e) {
      return problem(c, e);
    }
  });

  // ---- sign-in networks ----
  const hours = config.identity.signInHours;
  const oidc = deps.oidc && deps.externalAccounts && deps.audit && config.identity.oidc.length ? deps.oidc : undefined;
  const providers = oidc?.list().map((p) => ({ id: p.id, displayName: p.displayName })) ?? [];
  /**
   * A sign-in link is for the device the proxy named in it, once. The device is this request's own
   * address (the console is reached directly on sign-in networks, as the PAC file arranges), so a
   * link passed to someone at another computer signs nobody in, on either computer.
   */
  const signInClaims = async (c: Context, t: string): Promise<PageTokenClaims> => {
    const claims = verify(c, t, 'sign-in');
    const here = peerAddress(c);
    if (!here || deps.pseudonyms.client(here) !== claims.pseudonym) {
      throw new PageTokenError('FW_TOKEN_PERSON', 'this sign-in link was made for another computer: on the computer you are using, open any web site and sign in on the page it shows');
    }
    if (await tokenSpent(deps.redis, claims)) throw new PageTokenError('FW_TOKEN_USED', 'this sign-in link has already been used: open any web site for a new one');
    return claims;
  };

  app.get('/sign-in', async (c) => {
    const t = c.req.query('t');
    let claims: PageTokenClaims | null = null;
    if (t) {
      try {
        claims = await signInClaims(c, t);
      } catch (e) {
        return problem(c, e);
      }
    }
    if (oidc?.list().length) c.header(FORM_ACTION_HEADER, (await oidc.formOrigins()).join(' '));
    return send(c, signInPage({ site: siteFor(c), token: t, returnUrl: returnTo(c.req.query('return'), claims), hours, providers }));
  });

  app.post('/sign-in', async (c) => {
    const b = await form(c);
    const site = siteFor(c);
    let claims: PageTokenClaims | null = null;
    if (b.t) {
      try {
        claims = await signInClaims(c, b.t);
      } catch (e) {
        return problem(c, e);
      }
    }
    const ret = returnTo(b.return, claims);
    const again = (error: string, status = 401) => {
      const p = signInPage({ site, token: b.t, returnUrl: ret, hours, error, username: (b.username ?? '').slice(0, 64), providers });
      return send(c, { ...p, status });
    };
    // Which device: the one the token names (checked above to be this one), else this request's
    // own address when it comes from a sign-in network.
    let client: string;
    if (claims) {
      client = claims.pseudonym;
    } else {
      const ip = peerAddress(c);
      if (!ip || !signInNets.has(ip)) return again('This computer is not on a network where signing in is used (identity.signInNetworks). Open a web site first; you will be brought back here.', 400);
      client = deps.pseudonyms.client(ip);
    }
    const username = (b.username ?? '').trim().slice(0, 200);
    const password = (b.password ?? '').slice(0, 1024);
    if (!username || !password) return again('Enter your user name and password.', 400);
    const ip = peerAddress(c) || 'unknown';
    if (deps.limiter && (await deps.limiter.lockedFor(username, ip)) > 0) return again('Too many failed attempts: wait a few minutes and try again.', 429);
    const user = await deps.users.authenticate(username, password);
    if (!user) {
      await deps.limiter?.failed(username, ip);
      return again('User name or password not recognised.');
    }
    await deps.limiter?.succeeded(username);
    if (claims) {
      // spent only by a successful sign-in (a mistyped password keeps the link), and atomically
      try {
        await spendToken(deps.redis, claims);
      } catch (e) {
        return problem(c, e);
      }
    }
    const binding = await bindSignIn(deps.redis, client, { user: user.username, group: user.group }, hours);
    const signOutToken = deps.tokens.issue({ purpose: 'sign-out', eventId: randomUUID(), pseudonym: client, ttlMinutes: hours * 60 });
    return send(c, signedInPage(site, { username: user.username, until: new Date(binding.until), signOutToken, returnUrl: ret }));
  });

  // ---- sign-in with the organisation's OpenID provider (identity.oidc) ----
  if (oidc) {
    const tls = deps.tls ?? false;
    const base = (c: Context) => siteFor(c).consoleUrl.replace(/\/$/, '');
    /** The device this sign-in is for: the token's (checked to be this computer), else this address on a sign-in network. */
    const deviceOf = async (c: Context, t: string | undefined): Promise<{ client: string; claims: PageTokenClaims | null }> => {
      if (t) {
        const claims = await signInClaims(c, t);
        return { client: claims.pseudonym, claims };
      }
      const ip = peerAddress(c);
      if (!ip || !signInNets.has(ip)) throw new OidcError('wrong-purpose', 'This computer is not on a network where signing in is used (identity.signInNetworks). Open a web site first; you will be brought back here.');
      return { client: deps.pseudonyms.client(ip), claims: null };
    };
    const staffAudit = (actor: string, outcome: string, reason: string) =>
      deps.audit!.append({ actor, actorRole: '', action: 'staff-sign-in', target: '', reason: reason.slice(0, 500), outcome });

    app.post('/sign-in/oidc/:id', async (c) => {
      const b = await form(c);
      const id = c.req.param('id');
      let device;
      try {
        device = await deviceOf(c, b.t || undefined);
      } catch (e) {
        if (e instanceof OidcError) return send(c, { ...signInPage({ site: siteFor(c), hours, providers, error: e.message }), status: 400 });
        return problem(c, e);
      }
      try {
        const { url, browserValue } = await oidc.begin(id, {
          purpose: 'staff', redirectUri: `${base(c)}/sign-in/oidc/${id}/callback`, pageToken: b.t || undefined,
          returnTo: returnTo(b.return, device.claims),
        });
        setFlowCookie(c as never, tls, browserValue);
        return c.redirect(url.href, 303);
      } catch (e) {
        if (!(e instanceof OidcError)) throw e;
        await staffAudit('anonymous', 'refused-503', `oidc:${id.slice(0, 40)}: ${e.code}: ${e.message}`);
        return send(c, { ...signInPage({ site: siteFor(c), token: b.t, returnUrl: returnTo(b.return, device.claims), hours, providers, error: e.message }), status: e.code === 'unknown-provider' ? 404 : 503 });
      }
    });

    app.get('/sign-in/oidc/:id/callback', async (c) => {
      const id = c.req.param('id');
      const cookie = flowCookieName(tls);
      const browserValue = getCookie(c, cookie);
      deleteCookie(c, cookie, { path: '/', secure: tls });
      const site = siteFor(c);
      // filled in as the callback learns them; the refusal page uses whatever is known by then
      const known: { pageToken?: string; ret?: string } = {};
      const refuse = async (status: number, code: string, text: string) => {
        await staffAudit('anonymous', `refused-${status}`, `oidc:${id.slice(0, 40)}: ${code}: ${text}`);
        return send(c, { ...signInPage({ site, token: known.pageToken, returnUrl: known.ret, hours, providers, error: text }), status });
      };
      let result;
      try {
        result = await oidc.finish(id, 'staff', new URL(c.req.url), browserValue);
      } catch (e) {
        if (e instanceof OidcError) return refuse(e.code === 'token-invalid' || e.code === 'browser-mismatch' ? 403 : 400, e.code, e.message);
        throw e;
      }
      const pageToken = (known.pageToken = result.flow.pageToken);
      let device;
      try {
        device = await deviceOf(c, pageToken);
      } catch (e) {
        if (e instanceof PageTokenError || e instanceof OidcError) return refuse(403, e instanceof PageTokenError ? e.code : e.code, e.message);
        throw e;
      }
      const ret = (known.ret = returnTo(result.flow.returnTo, device.claims));
      const mapped = mapClaims(oidc.get(id), result.claims, 'staff');
      if (!mapped.ok) return refuse(403, mapped.code, mapped.message);
      const account = await provisionExternal({ users: deps.users, accounts: deps.externalAccounts!, audit: deps.audit! }, {
        providerId: id, issuer: result.issuer, subject: String(result.claims.sub), username: mapped.username,
        role: mapped.role, group: mapped.group, fallbackGroup: config.policy.defaultGroup,
      });
      if (!account.ok) return refuse(403, account.code, account.message);
      if (device.claims) {
        try {
          await spendToken(deps.redis, device.claims);
        } catch (e) {
          return problem(c, e);
        }
      }
      const user = account.user;
      const binding = await bindSignIn(deps.redis, device.client, { user: user.username, group: user.group }, hours);
      await staffAudit(user.userId, 'allowed', `oidc:${id}: group ${user.group}`);
      const signOutToken = deps.tokens.issue({ purpose: 'sign-out', eventId: randomUUID(), pseudonym: device.client, ttlMinutes: hours * 60 });
      return send(c, signedInPage(site, { username: user.username, until: new Date(binding.until), signOutToken, returnUrl: ret }));
    });
  }

  app.post('/sign-out', async (c) => {
    const b = await form(c);
    let client: string;
    if (b.t) {
      try {
        client = verify(c, b.t, 'sign-out').pseudonym;
      } catch (e) {
        return problem(c, e);
      }
    } else {
      client = deps.pseudonyms.client(peerAddress(c) || '0.0.0.0');
    }
    return send(c, signedOutPage(siteFor(c), await signOut(deps.redis, client)));
  });

  // ---- "I need this for my work" and "I reached this by accident" ----
  for (const kind of ['exception', 'accident'] as const) {
    const path = kind === 'exception' ? '/request-exception' : '/report-accident';
    const render = kind === 'exception' ? exceptionFormPage : accidentFormPage;
    const formPage = (c: Context, claims: PageTokenClaims, token: string, extra: { error?: string; reason?: string } = {}) => send(c, render({
      site: siteFor(c), token, eventId: claims.eventId, host: claims.host ?? '', categoryLabel: categoryLabel(config, claims.category ?? ''), ...extra,
    }));

    app.get(path, async (c) => {
      const t = c.req.query('t') ?? '';
      try {
        const claims = verify(c, t, kind);
        if (await tokenSpent(deps.redis, claims)) throw new PageTokenError('FW_TOKEN_USED', 'this link has already been used: your request was sent');
        return formPage(c, claims, t);
      } catch (e) {
        return problem(c, e);
      }
    });

    app.post(path, async (c) => {
      const b = await form(c);
      try {
        const claims = verify(c, b.t, kind);
        const reason = (b.reason ?? '').trim();
        if (kind === 'exception' && reason.length < 5) return formPage(c, claims, b.t!, { error: 'Please say why you need the site (at least a few words).', reason });
        if (reason.length > REASON_MAX) return formPage(c, claims, b.t!, { error: `Please keep the reason under ${REASON_MAX} characters.`, reason: reason.slice(0, REASON_MAX) });
        // Spent before the write: a double click sends one request, never two.
        await spendToken(deps.redis, claims);
        const req = await deps.authz.request({
          subject: kind === 'exception' ? 'work-exception' : 'self-report',
          target: claims.host ?? '',
          requester: claims.pseudonym,
          reason: reason || '(no details given)',
          details: { event_id: claims.eventId, category: claims.category ?? '', host: claims.host ?? '', rule: claims.rule ?? '', group: claims.group ?? '' },
        });
        // the directors hear of it from Authorisations.request's announcement (REQUESTS_CHANNEL)
        return send(c, requestSentPage(siteFor(c), kind, req.id));
      } catch (e) {
        return problem(c, e);
      }
    });
  }

  // ---- "Continue" after a warning ----
  app.get('/continue', async (c) => {
    try {
      const claims = verify(c, c.req.query('t'), 'continue');
      await spendToken(deps.redis, claims);
      const minutes = Math.max(1, Math.min(1440, claims.minutes ?? CONTINUE_MINUTES_DEFAULT));
      const category = claims.category ?? '';
      await recordContinue(deps.redis, claims.pseudonym, category, minutes);
      const target = returnTo(c.req.query('return'), claims) ?? `http://${claims.host}/`;
      const u = new URL(target);
      const ev: AccessEvent = {
        ts: new Date().toISOString(), event_id: randomUUID(), user_pseudonym: claims.pseudonym, user_group: claims.group ?? '',
        client_pseudonym: deps.pseudonyms.client(peerAddress(c) || '0.0.0.0'), method: 'GET', scheme: u.protocol.replace(':', ''),
        host: claims.host ?? u.hostname, port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80), path: u.pathname, status: 303,
        bytes_up: 0, bytes_down: 0, duration_ms: 0, content_type: '', filename: '', category, action: 'continue',
        rule: claims.rule ?? '', flags: [], source: 'console',
      };
      // emit never blocks: the sink spools to disk when Redis is away
      deps.events.emit(ev);
      return c.redirect(target, 303);
    } catch (e) {
      return problem(c, e);
    }
  });

  return app;
}

/**
 * Mounts the staff routes on the console app with what they need from the platform: the page-token
 * key and an event sink of their own (sharing the data directory's spool) for `continue` events.
 */
/** The category folders in the lists directory now (read per request: the nightly update changes them), or null when unknown. */
function listedCategories(dir: string | undefined): Set<string> | null {
  if (!dir) return null;
  try {
    return new Set(readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name));
  } catch {
    return null;
  }
}

export function mountStaffPages(app: Hono<Env>, p: Platform, deps: Omit<StaffPagesDeps, 'tokens' | 'events'> & Partial<Pick<StaffPagesDeps, 'tokens' | 'events'>>): StaffPagesDeps {
  const events = deps.events ?? createStreamSink({ redis: p.redis, dataDir: p.runtime.dataDir, pipeline: p.config.pipeline, log: p.log });
  if (!deps.events) p.onClose(() => events.close());
  const full: StaffPagesDeps = { ...deps, tokens: deps.tokens ?? new PageTokens(loadKey(p.runtime.dataDir, 'page-token', p.env)), events };
  app.route('/', staffPagesApp(full));
  // A Redis that lost its data (or a new one) must not ask everyone to accept again: the lasting
  // record is in ClickHouse. In the background, so the console never waits on it to start.
  void warmAupCache(p.store, p.redis, p.config.aup.version).catch((e: Error) => p.log.warn({ err: e.message }, 'AUP cache not rebuilt'));
  return full;
}
