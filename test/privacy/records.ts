import { randomUUID } from 'node:crypto';
import type { Platform } from '../../core/platform.ts';

// Events and staff records for two or more people, written straight into the real store.

export interface Seeded { eventIds: string[]; hosts: string[] }

export async function seedPerson(p: Platform, username: string, opts: { count: number; at: number; hostPrefix: string; group?: string }): Promise<Seeded> {
  const ps = p.pseudonyms.user(username);
  const rows = [];
  const eventIds: string[] = [];
  const hosts: string[] = [];
  for (let i = 0; i < opts.count; i++) {
    const id = randomUUID();
    const host = `${opts.hostPrefix}${i}.example`;
    eventIds.push(id);
    hosts.push(host);
    rows.push({
      ts: new Date(opts.at + i * 60_000).toISOString(), event_id: id, user_pseudonym: ps, user_group: opts.group ?? 'staff',
      client_pseudonym: p.pseudonyms.client(`10.0.0.${i + 1}`), method: 'GET', scheme: 'http', host, port: 80, path: `/${opts.hostPrefix}/page${i}`,
      status: 200, bytes_up: 100 + i, bytes_down: 1000 + i, duration_ms: 5, content_type: 'text/html', filename: i === 0 ? `${opts.hostPrefix}-file.pdf` : '',
      category: 'news', action: i % 2 ? 'block' : 'allow', rule: 'rule:1', flags: [],
    });
  }
  await p.store.insert('events', rows);
  return { eventIds, hosts };
}
