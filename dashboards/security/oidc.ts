import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Config, OidcProvider } from '../../core/config/schema.ts';
import { FairwatchError } from '../../core/errors.ts';

// OpenID Connect sign-in with openid-client: discovery, the authorization code flow with PKCE,
// state and nonce. openid-client validates the ID token (signature against the provider's keys,
// issuer, audience, expiry, nonce); this module keeps the flow's secrets in Redis for ten minutes
// under the hash of the state, taken atomically (GETDEL) so a state works once, and binds the flow
// to the browser that started it with a cookie (a callback link sent to someone else signs nobody in).
// Tokens are never stored or logged: only the claims leave here.

export const FLOW_SECONDS = 600;
export const FLOW_COOKIE = 'fw_oidc';
export const SECURE_FLOW_COOKIE = '__Host-fw_oidc';
/** a discovery that failed is tried again after this, not at every click */
const RETRY_MS = 30_000;

export type FlowPurpose = 'console' | 'staff';

export interface Flow {
  provider: string;
  purpose: FlowPurpose;
  nonce: string;
  verifier: string;
  /** SHA-256 of the browser cookie's value */
  browser: string;
  /** console: a path on the console; staff: the unsigned return URL, checked again against the token */
  returnTo?: string;
  /** staff: the sign-in page token the proxy issued for this device */
  pageToken?: string;
  /** re-authentication: the provider was asked for a fresh sign-in (max_age) */
  maxAge?: number;
}

export type OidcFailure = 'unknown-provider' | 'discovery-failed' | 'state-unknown' | 'browser-mismatch' | 'wrong-purpose' | 'provider-error' | 'token-invalid';

export class OidcError extends FairwatchError<OidcFailure> {}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const flowKey = (state: string) => `fairwatch:oidc-flow:${sha256(state)}`;

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The check that failed, in the library's words: its own message, the underlying check's message
 * (which names the claim: aud, iss, exp, nonce) and the provider's error code. Never the claims or
 * the token the error objects also carry.
 */
function whyRefused(e: unknown): string {
  const err = e as { message?: string; error?: string; error_description?: string; cause?: { message?: string; error?: string; error_description?: string } };
  const parts = [err.message ?? String(e)];
  const cause = err.cause;
  if (cause && typeof cause === 'object' && typeof cause.message === 'string' && cause.message !== err.message) parts.push(cause.message);
  const code = err.error ?? cause?.error;
  const description = err.error_description ?? cause?.error_description;
  if (typeof code === 'string') parts.push(`${code}${typeof description === 'string' ? `: ${description.slice(0, 120)}` : ''}`);
  return parts.join('; ');
}

export class OidcProviders {
  private readonly discovered = new Map<string, { config?: client.Configuration; pending?: Promise<client.Configuration>; failedAt?: number; error?: string }>();

  constructor(private readonly config: Config, private readonly redis: Redis, private readonly env: NodeJS.ProcessEnv = process.env) {}

  list(): readonly OidcProvider[] {
    return this.config.identity.oidc;
  }

  get(id: string): OidcProvider {
    const p = this.config.identity.oidc.find((x) => x.id === id);
    if (!p) throw new OidcError('unknown-provider', `no sign-in provider "${id.slice(0, 40)}" is configured (identity.oidc)`);
    return p;
  }

  /** The provider's metadata and our client, discovered once; a failure is retried after 30 s. */
  async configuration(id: string): Promise<client.Configuration> {
    const p = this.get(id);
    const d = this.discovered.get(id) ?? {};
    this.discovered.set(id, d);
    if (d.config) return d.config;
    if (d.failedAt && Date.now() - d.failedAt < RETRY_MS) throw new OidcError('discovery-failed', `${p.displayName} could not be reached: ${d.error}`);
    d.pending ??= this.discover(p).then((c) => {
      d.config = c;
      return c;
    }, (e: Error) => {
      d.failedAt = Date.now();
      d.error = e.message;
      throw new OidcError('discovery-failed', `${p.displayName} could not be reached (${p.issuer}): ${e.message}`);
    }).finally(() => {
      d.pending = undefined;
    });
    return d.pending;
  }

  private async discover(p: OidcProvider): Promise<client.Configuration> {
    const secret = p.clientSecret ?? this.env[p.clientSecretEnv!];
    if (!secret) throw new Error(`identity.oidc ${p.id}: the environment variable ${p.clientSecretEnv} holding the client secret is not set`);
    const options: client.DiscoveryRequestOptions = { timeout: 10 };
    if (p.caFile) {
      let ca: string;
      try {
        ca = readFileSync(p.caFile, 'utf8');
      } catch (e) {
        throw new Error(`identity.oidc ${p.id}.caFile: ${(e as Error).message}`);
      }
      const dispatcher = new Agent({ connect: { ca } });
      options[client.customFetch] = (url, init) => undiciFetch(url, { ...init, dispatcher } as never) as never;
    }
    return client.discovery(new URL(p.issuer), p.clientId, secret, client.ClientSecretBasic(secret), options);
  }

  /** Origins a form may lead to when it starts a sign-in (the console's CSP form-action). */
  async formOrigins(): Promise<string[]> {
    const out = new Set<string>();
    for (const p of this.list()) {
      out.add(new URL(p.issuer).origin);
      const c = await this.configuration(p.id).catch(() => null);
      const at = c?.serverMetadata().authorization_endpoint;
      if (at) out.add(new URL(at).origin);
    }
    return [...out];
  }

  /**
   * Starts a sign-in: the provider's authorization URL, and the value for the browser cookie that
   * must come back with the callback.
   */
  async begin(id: string, input: { purpose: FlowPurpose; redirectUri: string; returnTo?: string; pageToken?: string; maxAge?: number }): Promise<{ url: URL; browserValue: string }> {
    const p = this.get(id);
    const c = await this.configuration(id);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const browserValue = randomBytes(32).toString('base64url');
    const flow: Flow = { provider: id, purpose: input.purpose, nonce, verifier, browser: sha256(browserValue), returnTo: input.returnTo, pageToken: input.pageToken, maxAge: input.maxAge };
    await this.redis.set(flowKey(state), JSON.stringify(flow), 'EX', FLOW_SECONDS);
    const params: Record<string, string> = {
      redirect_uri: input.redirectUri, scope: p.scopes.join(' '), state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    };
    if (input.maxAge !== undefined) {
      params.max_age = String(input.maxAge);
      params.prompt = 'login';
    }
    // Google shows only accounts of that Workspace domain; the hd claim is still checked (requireClaims)
    if (p.requireClaims.hd) params.hd = p.requireClaims.hd;
    return { url: client.buildAuthorizationUrl(c, params), browserValue };
  }

  /**
   * The callback: the flow is taken (once), checked against this browser, provider and purpose;
   * then the code is exchanged and the ID token validated. Returns the token's claims and the flow.
   */
  async finish(id: string, purpose: FlowPurpose, currentUrl: URL, browserValue: string | undefined): Promise<{ claims: Record<string, unknown>; issuer: string; flow: Flow }> {
    const p = this.get(id);
    const state = currentUrl.searchParams.get('state') ?? '';
    if (!state || state.length > 200) throw new OidcError('state-unknown', 'the sign-in answer carried no state: start again from the sign-in page');
    const raw = await this.redis.getdel(flowKey(state));
    if (!raw) throw new OidcError('state-unknown', 'this sign-in attempt is unknown, already used or expired: start again from the sign-in page');
    const flow = JSON.parse(raw) as Flow;
    if (!browserValue || !sameHash(sha256(browserValue), flow.browser)) {
      throw new OidcError('browser-mismatch', 'this sign-in was started in another browser: start again from the sign-in page on this computer');
    }
    if (flow.provider !== id || flow.purpose !== purpose) throw new OidcError('wrong-purpose', 'this sign-in answer came back to the wrong address: start again');
    const error = currentUrl.searchParams.get('error');
    if (error) {
      const description = (currentUrl.searchParams.get('error_description') ?? '').slice(0, 200);
      throw new OidcError('provider-error', `${p.displayName} did not sign you in (${error.slice(0, 60)}${description ? `: ${description}` : ''})`);
    }
    const c = await this.configuration(id);
    try {
      const tokens = await client.authorizationCodeGrant(c, currentUrl, {
        pkceCodeVerifier: flow.verifier, expectedState: state, expectedNonce: flow.nonce, idTokenExpected: true,
        ...(flow.maxAge !== undefined ? { maxAge: flow.maxAge } : {}),
      });
      const claims = tokens.claims();
      if (!claims) throw new Error('no ID token in the answer');
      return { claims: claims as Record<string, unknown>, issuer: c.serverMetadata().issuer, flow };
    } catch (e) {
      // the library's message names the check that failed (issuer, audience, expiry, nonce, …), never the token
      throw new OidcError('token-invalid', `the answer from ${p.displayName} was not accepted: ${whyRefused(e).slice(0, 300)}`);
    }
  }
}
