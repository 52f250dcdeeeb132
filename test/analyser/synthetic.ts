import { randomUUID } from 'node:crypto';
import type { Pseudonymiser } from '../../core/identity/pseudonym.ts';

// A month of synthetic traffic (February 2026, GMT throughout) with answers known by construction.
// Ten people, person0–5 in `staff`, person6–9 in `volunteers`. Every working day (20 of them):
//   09:0i  news.example.org (news)               16 requests, every 2 min for 30 min → 31 min working
//   12:40  social.example.com (social_networks)   5 requests, every minute           →  5 min break
//   19:00  miniclip.com (games), even i only       3 requests at 0, 3, 6 min         →  7 min out of hours
//   10:00  person0: example-adult.com (adult)     1 blocked request                  →  1 min working
//   11:00  person1 on Mondays: setup.exe          1 executable download              →  1 min working
//   14:00  person9: social.example.com           10 requests, every minute          → 10 min working (personal)
// plus person2 on 10 Feb 15:00 one 30 MB upload (large-upload), person3 on Sat 14 Feb 10:00 two
// shopping requests (→ 2 min out of hours).

export const PEOPLE = Array.from({ length: 10 }, (_, i) => `person${i}`);
export const groupOf = (i: number) => (i < 6 ? 'staff' : 'volunteers');
export const WORKING_DAYS = [2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27];
export const MONDAYS = [2, 9, 16, 23];

export const EXPECTED = {
  requests: 10 * 20 * 16 + 10 * 20 * 5 + 5 * 20 * 3 + 20 + 4 + 20 * 10 + 1 + 2,
  blocked: 20,
  executables: 4,
  largeUploads: 1,
  minutes: { working: 10 * 20 * 31 + 20 + 4 + 20 * 10 + 1, break: 10 * 20 * 5, 'out-of-hours': 5 * 20 * 7 + 2 },
  people: 10,
};

interface Ev { ts: string; event_id: string; user_pseudonym: string; user_group: string; client_pseudonym: string; method: string; scheme: string; host: string; port: number; path: string; status: number; bytes_up: number; bytes_down: number; duration_ms: number; content_type: string; filename: string; category: string; action: string; rule: string; flags: string[] }

export function syntheticMonth(p: Pseudonymiser): Ev[] {
  const out: Ev[] = [];
  const add = (i: number, day: number, hh: number, mm: number, host: string, category: string, extra: Partial<Ev> = {}) => {
    const ts = new Date(Date.UTC(2026, 1, day, hh, mm)).toISOString();
    out.push({
      ts, event_id: randomUUID(), user_pseudonym: p.user(PEOPLE[i]!), user_group: groupOf(i), client_pseudonym: p.client(`10.0.0.${i + 1}`),
      method: 'GET', scheme: 'https', host, port: 443, path: '/', status: 200, bytes_up: 100, bytes_down: 1000, duration_ms: 20,
      content_type: 'text/html', filename: '', category, action: 'allow', rule: 'default', flags: [], ...extra,
    });
  };
  for (const day of WORKING_DAYS) {
    for (let i = 0; i < 10; i++) {
      for (let m = 0; m <= 30; m += 2) add(i, day, 9, i + m, 'news.example.org', 'news');
      for (let m = 0; m < 5; m++) add(i, day, 12, 40 + m, 'social.example.com', 'social_networks');
      if (i % 2 === 0) for (const m of [0, 3, 6]) add(i, day, 19, m, 'miniclip.com', 'games');
    }
    add(0, day, 10, 0, 'example-adult.com', 'adult', { action: 'block', status: 403, rule: 'rule:1', bytes_down: 0 });
    for (let m = 0; m < 10; m++) add(9, day, 14, m, 'social.example.com', 'social_networks');
    if (MONDAYS.includes(day)) add(1, day, 11, 0, 'download.example.net', 'download', { path: '/setup.exe', filename: 'setup.exe', flags: ['executable'] });
  }
  add(2, 10, 15, 0, 'files.example.net', 'filehosting', { method: 'POST', bytes_up: 30 * 1_048_576, flags: ['large-upload'] });
  add(3, 14, 10, 0, 'shop.example.com', 'shopping');
  add(3, 14, 10, 1, 'shop.example.com', 'shopping');
  return out;
}
