import { verifyPassword } from '../../core/identity/users.ts';
import type { ConsoleDeps } from '../deps.ts';
import { HttpError, REAUTH_MS, type Ctx } from '../access.ts';
import { clientIp } from './client-ip.ts';
import { checkTotp } from './totp.ts';

/**
 * Approve and export need a fresh proof of identity: the password or a new TOTP code in the request
 * (`password` / `totp`), or a sign-in within the last five minutes. Wrong answers count towards the
 * same lockout as sign-in failures.
 */
export async function requireReauth(deps: ConsoleDeps, c: Ctx): Promise<void> {
  const s = c.get('session')!;
  const id = c.get('sessionId')!;
  const user = c.get('user')!;
  const body = c.get('body');
  const password = typeof body.password === 'string' ? body.password : '';
  const totp = typeof body.totp === 'string' ? body.totp.trim() : '';
  if (!password && !totp) {
    if (deps.now() - s.authAt <= REAUTH_MS) return;
    // an account from an OpenID provider has no password or authenticator here: the provider asks again
    if (!user.passwordHash) throw new HttpError(403, 're-authentication needed: sign in again with your organisation account (the sign-in page, "Sign in with …"), then repeat this');
    throw new HttpError(403, 're-authentication needed: enter your password or a fresh authenticator code');
  }
  if (await deps.limiter.lockedFor(user.username, clientIp(c))) throw new HttpError(429, 'too many failed attempts: try again later');
  const ok = password ? await verifyPassword(user.passwordHash, password) : await checkTotp(deps.redis, user.userId, user.totpSecret, totp);
  if (!ok) {
    await deps.limiter.failed(user.username, clientIp(c));
    throw new HttpError(403, 're-authentication failed: the password or code was wrong');
  }
  await deps.sessions.reauthenticated(id, s);
}
