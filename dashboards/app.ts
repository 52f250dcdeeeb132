import { Hono } from 'hono';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { ConsoleDeps } from './deps.ts';
import { FairwatchError } from '../core/errors.ts';
import { fail, RouteTable, sessionMiddleware, type Env, type RouteRule } from './access.ts';
import { alertRoutes } from './routes/alerts.ts';
import { directorRoutes } from './routes/director.ts';
import { investigationRoutes } from './routes/investigations.ts';
import { itRoutes } from './routes/it.ts';
import { privacyRoutes } from './routes/privacy.ts';
import { overviewRoutes } from './routes/overview.ts';
import { peopleRoutes } from './routes/people.ts';
import { selfServiceRoutes } from './routes/self-service.ts';
import { publicRoutes } from './routes/public.ts';
import { FORM_ACTION_HEADER, oidcRoutes } from './routes/oidc.ts';
import { staffRoutes } from './routes/staff.ts';
import { SCIM_BASE, scimRoutes } from './routes/scim.ts';

// The console: server-rendered pages and the JSON API under /api, one hono app, constructible
// without a listener (tests call app.request). Every route comes from a RouteTable rule.

export interface ConsoleApp {
  app: Hono<Env>;
  rules: readonly RouteRule[];
}

export function createConsoleApp(deps: ConsoleDeps): ConsoleApp {
  const app = new Hono<Env>();
  // Registered before secureHeaders so it runs after it: a page whose forms start a sign-in with an
  // OpenID provider names the provider's origins, which join form-action (Chrome applies form-action
  // to the redirect that follows a form post).
  app.use('*', async (c, next) => {
    await next();
    const extra = c.res.headers.get(FORM_ACTION_HEADER);
    if (extra === null) return;
    c.res.headers.delete(FORM_ACTION_HEADER);
    const origins = extra.split(' ').filter((o) => /^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(o));
    const csp = c.res.headers.get('content-security-policy');
    if (csp && origins.length) c.res.headers.set('content-security-policy', csp.replace(/form-action ([^;]*)/, (_m, v: string) => `form-action ${v} ${origins.join(' ')}`));
  });
  app.use('*', secureHeaders({
    // no script at all; styles only from our own sheet; the QR code is a data: image
    contentSecurityPolicy: {
      defaultSrc: ["'none'"], styleSrc: ["'self'"], imgSrc: ["'self'", 'data:'], formAction: ["'self'"],
      frameAncestors: ["'none'"], baseUri: ["'none'"], frameSrc: ["'self'"],
    },
    strictTransportSecurity: deps.tls ? 'max-age=31536000' : false,
    // not no-referrer: with it Chrome sends `Origin: null` on our own form posts, which the CSRF check refuses
    referrerPolicy: 'same-origin',
    crossOriginResourcePolicy: 'same-origin',
  }));
  app.use('*', async (c, next) => {
    await next();
    c.header('cache-control', c.res.headers.get('cache-control') ?? 'no-store');
  });
  // Origin / Sec-Fetch-Site check for every form post (hono csrf); the RouteTable adds the
  // per-session form token, and JSON bodies cannot be sent cross-origin without a CORS preflight
  // we never answer.
  // SCIM (/scim/v2) is exempt: each request carries a bearer token a browser never attaches by itself
  const formCsrf = csrf();
  app.use('*', (c, next) => (c.req.path.startsWith(`${SCIM_BASE}/`) ? next() : formCsrf(c, next)));
  app.use('*', async (c, next) => {
    const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(c.req.method);
    const origin = c.req.header('origin');
    if (unsafe && ((origin && origin !== new URL(c.req.url).origin) || c.req.header('sec-fetch-site') === 'cross-site')) {
      return c.text('cross-origin request refused', 403);
    }
    await next();
  });
  app.use('*', sessionMiddleware(deps));
  const table = new RouteTable(app, deps);
  publicRoutes(deps, table);
  oidcRoutes(deps, table);
  staffRoutes(deps, table);
  itRoutes(deps, table);
  directorRoutes(deps, table);
  investigationRoutes(deps, table);
  alertRoutes(deps, table);
  privacyRoutes(deps, table);
  overviewRoutes(deps, table);
  peopleRoutes(deps, table);
  selfServiceRoutes(deps, table);
  scimRoutes(deps, table);
  app.notFound((c) => fail(deps, c as never, 404, 'no such page'));
  // The one place an error becomes an answer: fairwatch's errors carry their HTTP status (a route's
  // HttpError, a core error such as AuthzError); anything else is internal, logged, and not shown.
  app.onError((e, c) => {
    if (e instanceof FairwatchError && e.httpStatus) return fail(deps, c as never, e.httpStatus, e.message);
    // hono's csrf middleware refuses a cross-origin form with an HTTPException(403)
    if (e instanceof HTTPException) return fail(deps, c as never, e.status, e.status === 403 ? 'cross-origin request refused' : e.message);
    deps.log.error({ err: e, method: c.req.method, path: c.req.path }, 'console request failed');
    return fail(deps, c as never, 500, 'something went wrong; the error was logged');
  });
  return { app, rules: table.rules };
}
