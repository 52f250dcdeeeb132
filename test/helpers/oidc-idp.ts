import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
// @ts-expect-error oidc-provider ships no type declarations
import Provider from 'oidc-provider';
import type { LeafMinter } from '../../core/tls/leaf.ts';

// A real OpenID provider for tests: the registry's oidc-provider (a certified implementation) on
// 127.0.0.1 behind a TLS front. The front serves the provider's pages with a minimal sign-in form
// (the test's accounts and their claims come from findAccount) and forwards everything else.
// `tamper` lets an attacker test rewrite the ID token on its way out of the token endpoint, signed
// again with the provider's own key: only the client's claim checks can then refuse it.

export interface TestIdp {
  issuer: string;
  /** accounts by login name: the claims the provider asserts */
  accounts: Map<string, Record<string, unknown>>;
  /** rewrites the next ID token's payload (cleared after use) */
  tamper: ((payload: Record<string, unknown>) => Record<string, unknown>) | null;
  /** once the clients' redirect URIs are known */
  configure(clients: Array<{ client_id: string; client_secret: string; redirect_uris: string[] }>): Promise<void>;
  close(): Promise<void>;
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTestIdp(minter: LeafMinter): Promise<TestIdp> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = b64u(randomBytes(8));
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  // oidc-provider ships no types
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let provider: any = null;
  let inner: Server | null = null;
  let innerPort = 0;

  const idp: TestIdp = {
    issuer: '',
    accounts: new Map(),
    tamper: null,
    async configure(clients) {
      provider = new Provider(idp.issuer, {
        clients: clients.map((c) => ({ ...c, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' })),
        jwks: { keys: [jwk] },
        cookies: { keys: [randomBytes(16).toString('hex')] },
        // the ID token carries every claim of the granted scopes, as Entra and Google do
        conformIdTokenClaims: false,
        claims: { openid: ['sub', 'tid', 'hd'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'roles', 'groups'] },
        features: { devInteractions: { enabled: false } },
        interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
        pkce: { required: () => true },
        findAccount: (_ctx: unknown, id: string) => {
          const claims = idp.accounts.get(id);
          return claims ? { accountId: id, claims: async () => ({ sub: id, ...claims }) } : undefined;
        },
      });
      provider.proxy = true;
      inner = createHttpServer(provider.callback());
      await new Promise<void>((r) => inner!.listen(0, '127.0.0.1', r));
      innerPort = (inner.address() as AddressInfo).port;
    },
    async close() {
      await new Promise<void>((r) => front.close(() => r()));
      front.closeAllConnections();
      if (inner) {
        inner.closeAllConnections();
        await new Promise<void>((r) => inner!.close(() => r()));
      }
    },
  };

  const resignIdToken = (idToken: string, change: (p: Record<string, unknown>) => Record<string, unknown>): string => {
    const [h, p] = idToken.split('.');
    const payload = change(JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>);
    const input = `${h}.${b64u(JSON.stringify(payload))}`;
    return `${input}.${b64u(sign('sha256', Buffer.from(input), createPrivateKey({ key: jwk as never, format: 'jwk' })))}`;
  };

  const interaction = async (req: IncomingMessage, res: ServerResponse, uid: string) => {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Test provider</title><h1>Test provider sign-in</h1>
<form method="post" action="/interaction/${uid}"><label>Login <input name="login" id="login"></label><button type="submit">Sign in</button></form>`);
      return;
    }
    let body = '';
    for await (const chunk of req) body += chunk;
    const login = new URLSearchParams(body).get('login') ?? '';
    if (!idp.accounts.has(login)) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('no such test account');
      return;
    }
    const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const isToken = req.method === 'POST' && req.url === '/token';
    const out = httpRequest({ host: '127.0.0.1', port: innerPort, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-proto': 'https' } }, (up) => {
      const tamper = idp.tamper;
      if (!isToken || !tamper || up.statusCode !== 200) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      idp.tamper = null;
      let text = '';
      up.setEncoding('utf8');
      up.on('data', (d: string) => { text += d; });
      up.on('end', () => {
        const json = JSON.parse(text) as Record<string, unknown>;
        if (typeof json.id_token === 'string') json.id_token = resignIdToken(json.id_token, tamper);
        const body = JSON.stringify(json);
        const headers = { ...up.headers, 'content-length': String(Buffer.byteLength(body)) };
        res.writeHead(200, headers).end(body);
      });
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  };

  const leaf = minter.leafFor('127.0.0.1');
  const front = createHttpsServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    if (!provider) {
      res.writeHead(503).end();
      return;
    }
    if (m) {
      interaction(req, res, m[1]!).catch((e: Error) => {
        if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(`interaction failed: ${e.message}`);
      });
      return;
    }
    forward(req, res);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  idp.issuer = `https://127.0.0.1:${(front.address() as AddressInfo).port}`;
  return idp;
}
