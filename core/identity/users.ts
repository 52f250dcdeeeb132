import { randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import { generateSecret } from 'otplib';
import type { Store } from '../storage/clickhouse.ts';
import { normaliseUsername } from './pseudonym.ts';
import { FairwatchError } from '../errors.ts';

// The user directory: the only table with names in it. Rows are appended (ReplacingMergeTree on
// updated_at); the newest row per user name is the user, read with FINAL.

export const ROLES = ['staff', 'it', 'director', 'dpo'] as const;
export type Role = (typeof ROLES)[number];
/** Roles that must use a second factor on the console. */
export const TOTP_ROLES: readonly Role[] = ['it', 'director', 'dpo'];

export const MIN_PASSWORD_LENGTH = 10;
const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

type UserErrorCode = 'FW_USER_EXISTS' | 'FW_USER_UNKNOWN' | 'FW_USER_INVALID';

export class UserError extends FairwatchError<UserErrorCode> {
  constructor(code: UserErrorCode, message: string) {
    super(code, message, { exitCode: code === 'FW_USER_INVALID' ? 2 : 1, httpStatus: code === 'FW_USER_EXISTS' ? 409 : 400 });
  }
}

export interface User {
  username: string;
  userId: string;
  role: Role;
  group: string;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface UserRecord extends User {
  passwordHash: string;
  totpSecret: string;
}

interface Row {
  username: string;
  user_id: string;
  role: string;
  group: string;
  password_hash: string;
  totp_secret: string;
  disabled: number;
  created_at: string;
  updated_at: string;
}

function fromRow(r: Row): UserRecord {
  return {
    username: r.username,
    userId: r.user_id,
    role: r.role as Role,
    group: r.group,
    disabled: Number(r.disabled) === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    passwordHash: r.password_hash,
    totpSecret: r.totp_secret,
  };
}

function toRow(u: UserRecord): Row {
  return {
    username: u.username, user_id: u.userId, role: u.role, group: u.group, password_hash: u.passwordHash,
    totp_secret: u.totpSecret, disabled: u.disabled ? 1 : 0, created_at: u.createdAt, updated_at: u.updatedAt,
  };
}

export function validateUsername(raw: string): string {
  const name = normaliseUsername(raw);
  if (!USERNAME.test(name)) {
    throw new UserError('FW_USER_INVALID', `--username "${raw}": use 1–64 characters: letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
  }
  return name;
}

export function validatePassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new UserError('FW_USER_INVALID', `password: at least ${MIN_PASSWORD_LENGTH} characters are needed (got ${password.length})`);
  }
}

export function hashPassword(password: string): Promise<string> {
  // argon2id with the library's defaults (64 MiB, t=3, p=4): OWASP's recommended class.
  return argon2.hash(password, { type: argon2.argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | null = null;

/**
 * The same argon2 work as a real check, for a name that is unknown or disabled: how long the answer
 * takes must not say whether the account exists. Always false.
 */
export async function verifyNobody(password: string): Promise<false> {
  dummyHash ??= hashPassword('not a real password, only for equal timing');
  await verifyPassword(await dummyHash, password);
  return false;
}

/** A strictly increasing time for successive writes from this process (ReplacingMergeTree keeps the max). */
let lastStamp = 0;
function stamp(): string {
  lastStamp = Math.max(Date.now(), lastStamp + 1);
  return new Date(lastStamp).toISOString();
}

export class UserDirectory {
  constructor(private readonly store: Store) {}

  async get(username: string): Promise<UserRecord | null> {
    const rows = await this.store.rows<Row>(
      `SELECT * FROM ${this.store.database}.users FINAL WHERE username = {u:String} LIMIT 1`, { u: normaliseUsername(username) });
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async getById(userId: string): Promise<UserRecord | null> {
    const rows = await this.store.rows<Row>(
      `SELECT * FROM ${this.store.database}.users FINAL WHERE user_id = {id:String} LIMIT 1`, { id: userId });
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async list(): Promise<User[]> {
    const rows = await this.store.rows<Row>(`SELECT * FROM ${this.store.database}.users FINAL ORDER BY username`);
    return rows.map(fromRow).map(({ passwordHash: _p, totpSecret: _t, ...u }) => u);
  }

  /** Every record including hashes: for the proxy's credential check, never for display. */
  async records(): Promise<UserRecord[]> {
    return (await this.store.rows<Row>(`SELECT * FROM ${this.store.database}.users FINAL`)).map(fromRow);
  }

  async add(input: { username: string; role: Role; group: string; password: string }): Promise<{ user: User; totpSecret: string | null }> {
    const username = validateUsername(input.username);
    if (!ROLES.includes(input.role)) throw new UserError('FW_USER_INVALID', `--role "${input.role}": expected one of ${ROLES.join(', ')}`);
    validatePassword(input.password);
    if (await this.get(username)) throw new UserError('FW_USER_EXISTS', `user "${username}" already exists (use \`users list\`; a disabled user stays in the directory)`);
    const now = stamp();
    const totpSecret = TOTP_ROLES.includes(input.role) ? generateSecret() : '';
    const rec: UserRecord = {
      username, userId: randomUUID(), role: input.role, group: input.group, disabled: false,
      createdAt: now, updatedAt: now, passwordHash: await hashPassword(input.password), totpSecret,
    };
    await this.store.insert('users', [toRow(rec)]);
    const { passwordHash: _p, totpSecret: _t, ...user } = rec;
    return { user, totpSecret: totpSecret || null };
  }

  /**
   * Adds several users in one insert: either all of them are stored or none (the CSV import).
   * Every entry is checked first; a name taken meanwhile fails the whole call.
   */
  async addMany(inputs: ReadonlyArray<{ username: string; role: Role; group: string; password: string }>): Promise<User[]> {
    const names = new Set<string>();
    for (const i of inputs) {
      const username = validateUsername(i.username);
      if (!ROLES.includes(i.role)) throw new UserError('FW_USER_INVALID', `--role "${i.role}": expected one of ${ROLES.join(', ')}`);
      validatePassword(i.password);
      if (names.has(username)) throw new UserError('FW_USER_INVALID', `user "${username}" is given twice`);
      names.add(username);
    }
    if (names.size === 0) return [];
    const taken = await this.store.rows<{ username: string }>(
      `SELECT username FROM ${this.store.database}.users FINAL WHERE username IN {u:Array(String)}`, { u: [...names] });
    if (taken.length) throw new UserError('FW_USER_EXISTS', `user "${taken[0]!.username}" already exists`);
    const now = stamp();
    const recs: UserRecord[] = [];
    for (const i of inputs) {
      recs.push({
        username: validateUsername(i.username), userId: randomUUID(), role: i.role, group: i.group, disabled: false,
        createdAt: now, updatedAt: now, passwordHash: await hashPassword(i.password), totpSecret: TOTP_ROLES.includes(i.role) ? generateSecret() : '',
      });
    }
    await this.store.insert('users', recs.map(toRow));
    return recs.map(({ passwordHash: _p, totpSecret: _t, ...u }) => u);
  }

  /**
   * A person known from an OpenID provider, on their first sign-in: no password and no
   * authenticator secret here (the provider checks both), so password sign-in and proxy Basic
   * authentication never succeed for it.
   */
  async addExternal(input: { username: string; role: Role; group: string }): Promise<UserRecord> {
    const username = validateUsername(input.username);
    if (!ROLES.includes(input.role)) throw new UserError('FW_USER_INVALID', `role "${input.role}": expected one of ${ROLES.join(', ')}`);
    if (await this.get(username)) throw new UserError('FW_USER_EXISTS', `user "${username}" already exists`);
    const now = stamp();
    const rec: UserRecord = { username, userId: randomUUID(), role: input.role, group: input.group, disabled: false, createdAt: now, updatedAt: now, passwordHash: '', totpSecret: '' };
    await this.store.insert('users', [toRow(rec)]);
    return rec;
  }

  /**
   * A record for someone who signs in with the organisation's directory (`users sync`): role staff,
   * no password here (an empty hash never verifies), no second factor.
   */
  async addFromDirectory(input: { username: string; group: string }): Promise<UserRecord> {
    const username = validateUsername(input.username);
    if (await this.get(username)) throw new UserError('FW_USER_EXISTS', `user "${username}" already exists`);
    const now = stamp();
    const rec: UserRecord = { username, userId: randomUUID(), role: 'staff', group: input.group, disabled: false, createdAt: now, updatedAt: now, passwordHash: '', totpSecret: '' };
    await this.store.insert('users', [toRow(rec)]);
    return rec;
  }

  /** Role and group as the organisation's directory now says (an OpenID sign-in). */
  setAccess(username: string, access: { role: Role; group: string }): Promise<UserRecord> {
    return this.update(username, (u) => ({ ...u, role: access.role, group: access.group }));
  }

  setGroup(username: string, group: string): Promise<UserRecord> {
    return this.update(username, (u) => ({ ...u, group }));
  }

  private async update(username: string, change: (u: UserRecord) => UserRecord): Promise<UserRecord> {
    const current = await this.get(username);
    if (!current) throw new UserError('FW_USER_UNKNOWN', `no user "${normaliseUsername(username)}" (see \`fairwatch users list\`)`);
    const next = { ...change(current), updatedAt: stamp() };
    await this.store.insert('users', [toRow(next)]);
    return next;
  }

  disable(username: string): Promise<UserRecord> {
    return this.update(username, (u) => ({ ...u, disabled: true }));
  }

  enable(username: string): Promise<UserRecord> {
    return this.update(username, (u) => ({ ...u, disabled: false }));
  }

  async setPassword(username: string, password: string): Promise<UserRecord> {
    validatePassword(password);
    const hash = await hashPassword(password);
    return this.update(username, (u) => ({ ...u, passwordHash: hash }));
  }

  setTotpSecret(username: string, secret: string): Promise<UserRecord> {
    return this.update(username, (u) => ({ ...u, totpSecret: secret }));
  }

  /** The user when name and password match and the account is enabled; otherwise null. */
  async authenticate(username: string, password: string): Promise<UserRecord | null> {
    const u = await this.get(username);
    // a directory-managed record has no local password: the same work as an unknown name
    if (!u || u.disabled || !u.passwordHash) return verifyNobody(password).then(() => null);
    return (await verifyPassword(u.passwordHash, password)) ? u : null;
  }
}
