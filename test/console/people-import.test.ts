import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvRecords, parseStarters } from '../../core/identity/starters.ts';
import type { Role } from '../../core/identity/users.ts';
import { openConsole, type Account } from './harness.ts';

// Starters from CSV on the People page and its JSON twin: checked line by line before anything is
// created, one insert for all, a one-time set-password link each, audited; IT cannot add directors.

const rules = (existing: string[] = []) => ({
  mayAdd: (r: Role) => r === 'staff' || r === 'it', groups: ['staff', 'care'], defaultGroup: 'staff', existing: new Set(existing),
});

describe('starters CSV (pure)', () => {
  it('reads quoted fields, CRLF, a BOM and blank lines, keeping the line each record starts on', () => {
    expect(csvRecords('\uFEFFusername,role\r\n\r\n"o""neil, jo",staff\n"multi\nline",it\n')).toEqual([
      { line: 1, fields: ['username', 'role'] },
      { line: 3, fields: ['o"neil, jo', 'staff'] },
      { line: 4, fields: ['multi\nline', 'it'] },
    ]);
  });

  it('accepts good rows (group optional, header in any order and case) and refuses the whole file for one bad row', () => {
    const ok = parseStarters('Role,USERNAME,group\nstaff,Jo.Bloggs,\nit,ann,care\n', rules());
    expect(ok).toEqual({ problems: [], starters: [
      { line: 2, username: 'jo.bloggs', role: 'staff', group: 'staff' }, { line: 3, username: 'ann', role: 'it', group: 'care' }] });
    const bad = parseStarters('username,role,group\nann,staff,staff\nbob,director,staff\ncy,staff,kitchen\nsam,staff,\nann,it,\n"bad name",staff,\nzed,boss,\n', rules(['sam']));
    expect(bad.starters).toEqual([]);
    expect(bad.problems).toEqual([
      { line: 3, message: 'role director: only a director adds director accounts' },
      { line: 4, message: 'group "kitchen" is not in policy.groups (staff, care)' },
      { line: 5, message: 'user "sam" already exists' },
      { line: 6, message: 'user "ann" is also on line 2' },
      { line: 7, message: expect.stringMatching(/^username "bad name": use 1–64 characters/) },
      { line: 8, message: 'role "boss": expected one of staff, it, director, dpo' },
    ]);
  });

  it('names a bad header, an empty file, an unclosed quote and extra fields', () => {
    expect(parseStarters('name,role,email\nx,staff,a@b\n', rules()).problems).toEqual([
      { line: 1, message: 'unknown columns "name", "email": the columns are username, role, group (group may be left out)' },
      { line: 1, message: 'the header row has no "username" column' },
    ]);
    expect(parseStarters('  \n', rules()).problems[0]!.message).toMatch(/the file is empty/);
    expect(parseStarters('username,role\nok,staff\n"open,staff\n', rules()).problems).toEqual([{ line: 3, message: 'a quoted field is not closed' }]);
    expect(parseStarters('username,role\nok,staff,extra\n', rules()).problems).toEqual([{ line: 2, message: '3 fields, the header has 2' }]);
  });
});

let h: Awaited<ReturnType<typeof openConsole>>;
let ian: Account;
let dana: Account;

beforeAll(async () => {
  h = await openConsole();
  ian = await h.addUser('ian', 'it', 'it');
  dana = await h.addUser('dana', 'director', 'staff');
});
afterAll(async () => { await h?.cleanup(); });

describe('import starters in the console', () => {
  it('a file with a bad line adds nobody and lists each problem with its line, escaped', async () => {
    const s = await h.sessionFor(ian);
    const before = (await h.deps.users.list()).length;
    const res = await h.request('POST', '/people/import', { cookie: s.cookie, form: { _csrf: s.csrf, csv: 'username,role,group\nnew.one,staff,\nboss,director,\n<b>x</b>,staff,\n' } });
    expect(res.status).toBe(400);
    expect(res.text).toContain('Nobody was added: 2 problems in the file.');
    expect(res.text).toContain('<li>line 3: role director: only a director adds director accounts</li>');
    expect(res.text).toContain('line 4: username &quot;&lt;b&gt;x&lt;/b&gt;&quot;');
    expect(res.text).not.toContain('<b>x</b>');
    expect((await h.deps.users.list()).length).toBe(before);
    expect(await h.deps.users.get('new.one')).toBeNull();
    const [row] = await h.deps.audit.list(1);
    expect(row).toMatchObject({ action: 'user.import', actor: ian.userId, outcome: 'refused-400' });
  });

  it('a good file adds everyone with a one-time link each, one audit row naming them', async () => {
    const s = await h.sessionFor(ian);
    const res = await h.request('POST', '/people/import', { cookie: s.cookie, form: { _csrf: s.csrf, csv: 'username,role,group\namy,staff,\nben,it,\n' } });
    expect(res.status).toBe(200);
    expect(res.text).toContain('2 accounts added.');
    const links = [...res.text.matchAll(/<td class="link">([^<]+)<\/td>/g)].map((m) => m[1]!);
    expect(links).toHaveLength(2);
    for (const l of links) expect(l).toMatch(/\/account\/[A-Za-z0-9_-]{43}$/);
    expect((await h.deps.users.get('amy'))).toMatchObject({ role: 'staff', group: 'staff', disabled: false });
    expect((await h.deps.users.get('ben'))).toMatchObject({ role: 'it' });
    const [row] = await h.deps.audit.list(1);
    expect(row).toMatchObject({ action: 'user.import', actor: ian.userId, outcome: 'allowed', target: expect.stringMatching(/^2 starters: amy,ben$/) });
    // the link lets the person choose a password (the same one-time link as Add)
    const token = links[0]!.split('/account/')[1]!;
    const page = await h.request('GET', `/account/${token}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Account <strong>amy</strong>');
  });

  it('a chosen file (multipart) works like pasted text', async () => {
    const s = await h.sessionFor(dana);
    const body = new FormData();
    body.set('_csrf', s.csrf);
    body.set('csv', '');
    body.set('file', new File(['username,role,group\ndirk,director,\n'], 'starters.csv', { type: 'text/csv' }));
    const res = await h.app.request('/people/import', { method: 'POST', headers: { cookie: s.cookie, origin: 'http://localhost' }, body });
    expect(res.status).toBe(200);
    expect((await h.deps.users.get('dirk'))?.role).toBe('director');
  });

  it('JSON API: 201 with links, 400 with the problems as data', async () => {
    const s = await h.sessionFor(dana);
    const ok = await h.request('POST', '/api/users/import', { cookie: s.cookie, json: { csv: 'username,role\ncat,staff\n' } });
    expect(ok.status).toBe(201);
    const body = JSON.parse(ok.text) as { created: Array<{ username: string; role: string; link: string }> };
    expect(body.created).toEqual([expect.objectContaining({ username: 'cat', role: 'staff', link: expect.stringMatching(/\/account\//) })]);
    const bad = await h.request('POST', '/api/users/import', { cookie: s.cookie, json: { csv: 'username,role\ncat,staff\n' } });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toEqual({ error: 'csv: line 2: user "cat" already exists', problems: [{ line: 2, message: 'user "cat" already exists' }] });
    const empty = await h.request('POST', '/api/users/import', { cookie: s.cookie, json: {} });
    expect(empty.status).toBe(400);
    expect(empty.text).toContain('csv: paste the file or choose it');
  });
});
