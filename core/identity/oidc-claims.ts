import type { OidcProvider } from '../config/schema.ts';
import type { Role } from './users.ts';

// What a validated ID token means to fairwatch: the person's user name, console role and group.
// Pure: the token's signature, issuer, audience, expiry and nonce were checked by the OpenID client
// before these claims reach here. Every refusal carries a code for the audit row and a sentence
// for the person.

export type ClaimsRefusal =
  | 'no-username' | 'email-unverified' | 'domain-not-allowed' | 'required-claim' | 'groups-overage' | 'no-role' | 'no-group';

export type ClaimsOutcome =
  | { ok: true; username: string; role: Role | null; group: string | null }
  | { ok: false; code: ClaimsRefusal; message: string };

/** Console roles, strongest first: someone matched to two is given the stronger. */
const ROLE_ORDER: readonly Role[] = ['director', 'dpo', 'it'];

/** A claim's values as strings (a claim may be one string or a list). */
function values(claims: Record<string, unknown>, name: string): string[] {
  const v = claims[name];
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/**
 * Entra ID leaves the groups claim out when a person is in too many groups (over 200 in a JWT) and
 * says so with `_claim_names.groups` (or `hasgroups`); the list would have to come from Microsoft
 * Graph, which fairwatch does not call. Refused rather than read as "no groups".
 */
function groupsOverage(claims: Record<string, unknown>, claim: string): boolean {
  const names = claims._claim_names;
  return claims.hasgroups === true || (!!names && typeof names === 'object' && Object.hasOwn(names, claim));
}

const refuse = (code: ClaimsRefusal, message: string): ClaimsOutcome => ({ ok: false, code, message });

/**
 * Maps the claims for one purpose: `console` needs a console role, `staff` (the shared-computer
 * sign-in page) needs a group. The other of the two is given when it matches, else null.
 */
export function mapClaims(p: OidcProvider, claims: Record<string, unknown>, purpose: 'console' | 'staff'): ClaimsOutcome {
  const raw = values(claims, p.usernameClaim)[0]?.trim() ?? '';
  if (!raw) return refuse('no-username', `${p.displayName} did not send the ${p.usernameClaim} claim, which fairwatch uses as the user name`);
  // Google says whether it checked the address; a provider that says "not verified" is not trusted with it
  if (p.usernameClaim === 'email' && claims.email_verified === false) return refuse('email-unverified', `${p.displayName} says this email address is not verified`);
  const username = raw.normalize('NFKC').toLowerCase();
  if (p.allowedDomains.length) {
    const at = username.lastIndexOf('@');
    const domain = at >= 0 ? username.slice(at + 1) : '';
    if (!p.allowedDomains.includes(domain)) return refuse('domain-not-allowed', `accounts from ${domain || 'this provider'} may not sign in here (allowed: ${p.allowedDomains.join(', ')})`);
  }
  for (const [name, wanted] of Object.entries(p.requireClaims)) {
    if (!values(claims, name).includes(wanted)) return refuse('required-claim', `this account is not from the organisation's directory (claim ${name} does not match)`);
  }
  const roleValues = values(claims, p.roleClaim);
  const matchedRoles = new Set<Role>(roleValues.flatMap((v) => Object.hasOwn(p.roles, v) ? [p.roles[v]!] : []));
  const role = ROLE_ORDER.find((r) => matchedRoles.has(r)) ?? null;
  const groupValues = new Set(values(claims, p.groupClaim));
  const matchedGroup = Object.entries(p.groups).find(([v]) => groupValues.has(v))?.[1] ?? null;
  const group = matchedGroup ?? p.defaultGroup ?? null;
  const overage = groupsOverage(claims, p.groupClaim) || (p.roleClaim !== p.groupClaim && groupsOverage(claims, p.roleClaim));
  if (purpose === 'console' && !role) {
    if (overage) return refuse('groups-overage', `${p.displayName} left out the group list (too many groups): ask IT to map an app role instead`);
    return refuse('no-role', `your ${p.displayName} account has no fairwatch console role: ask IT to add you to the director, DPO or IT group for fairwatch`);
  }
  if (purpose === 'staff' && !group) {
    if (overage) return refuse('groups-overage', `${p.displayName} left out the group list (too many groups): ask IT to set a default group or use app roles`);
    return refuse('no-group', `your ${p.displayName} account is in no group fairwatch knows: ask IT to add you to a staff group for fairwatch`);
  }
  return { ok: true, username, role, group };
}
