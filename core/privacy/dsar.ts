import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Authorisations } from '../authorisation/store.ts';
import { statusAt } from '../authorisation/model.ts';
import type { Store } from '../storage/clickhouse.ts';
import { renderSubjectAccess, type SubjectAccessData } from './dsar-render.ts';

// A subject access request (UK GDPR article 15): one person's records, gathered by their pseudonym
// only, so nothing about anyone else can come along. Events (also copies kept under a legal hold),
// acceptances of the acceptable-use statement, and the work exceptions and accidental-visit reports
// they sent from block pages. Decisions on those requests are given without the director's identity.

/** Rows an export holds at most per kind: a year of heavy browsing fits. */
export const MAX_SUBJECT_EVENTS = 2_000_000;

export async function collectSubjectAccess(store: Store, redis: Redis, who: { username: string; pseudonym: string; inDirectory: boolean; group: string | null }): Promise<SubjectAccessData> {
  const db = store.database;
  const cols = `toUnixTimestamp64Milli(ts) AS t, toString(event_id) AS event_id, user_group, method, scheme, host, port, path, status, category, action, rule,
    bytes_up, bytes_down, content_type, filename, flags`;
  const events = await store.rows<SubjectAccessData['events'][number]>(
    `SELECT * FROM (
       SELECT ${cols} FROM ${db}.events WHERE user_pseudonym = {p:String}
       UNION ALL
       SELECT ${cols} FROM ${db}.held_events WHERE user_pseudonym = {p:String}
     ) ORDER BY t, event_id LIMIT 1 BY event_id LIMIT {limit:UInt32}`,
    { p: who.pseudonym, limit: MAX_SUBJECT_EVENTS });
  const acceptances = await store.rows<{ t: number; version: string }>(
    `SELECT toUnixTimestamp64Milli(ts) AS t, version FROM ${db}.aup_acceptances WHERE user_pseudonym = {p:String} ORDER BY ts`, { p: who.pseudonym });
  const authz = new Authorisations(store, redis);
  const requests = (await authz.list({ subject: ['work-exception', 'self-report'], requester: who.pseudonym }))
    // list() keeps whole requests whose request row is this person's: decision rows carry no one else's data here
    .filter((r) => r.requester === who.pseudonym)
    .map((r) => ({
      id: r.id, kind: r.subject, t: r.requestedAt, site: String(r.details.host ?? r.target ?? ''), category: String(r.details.category ?? ''),
      reason: r.reason, status: statusAt(r, Date.now()),
      decidedAt: r.approval?.at ?? r.refusal?.at ?? null,
      decisionNote: r.refusal?.reason ?? '',
      expiresAt: r.approval?.expiresAt ?? null,
    }))
    .sort((a, b) => a.t - b.t);
  return {
    username: who.username, pseudonym: who.pseudonym, inDirectory: who.inDirectory, group: who.group,
    events: events.map((e) => ({ ...e, t: Number(e.t), port: Number(e.port), status: Number(e.status), bytes_up: Number(e.bytes_up), bytes_down: Number(e.bytes_down) })),
    acceptances: acceptances.map((a) => ({ t: Number(a.t), version: a.version })),
    requests,
    truncated: events.length >= MAX_SUBJECT_EVENTS,
  };
}

/** Writes the export into `dir` (created; must be empty) and returns the files with their SHA-256. */
export function writeSubjectAccess(dir: string, data: SubjectAccessData, org: { name: string; timezone: string; contact: string }, now = new Date()): Array<{ name: string; bytes: number; sha256: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (readdirSync(dir).length > 0 || existsSync(join(dir, 'index.html'))) throw new Error(`${dir} is not empty; choose a new directory for the export`);
  const files = renderSubjectAccess(data, org, now);
  const out = [];
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    out.push({ name, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') });
  }
  return out;
}
