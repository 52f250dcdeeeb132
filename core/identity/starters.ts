import { ROLES, UserError, validateUsername, type Role } from './users.ts';

// Starters from a CSV file (the People page's import): a header row naming the columns
// (username, role, group; group may be left out or empty for the default group), then one person a
// line. Every row is checked before anything is created, and each problem names its line, so a
// file with one bad row creates nobody and says what to fix.

export interface Starter { line: number; username: string; role: Role; group: string }
export interface StarterProblem { line: number; message: string }

export const MAX_STARTERS = 200;
const COLUMNS = ['username', 'role', 'group'] as const;

/** RFC 4180 records with the line each starts on: quoted fields may hold commas, quotes ("") and line breaks. */
export function csvRecords(text: string): Array<{ line: number; fields: string[] }> {
  const out: Array<{ line: number; fields: string[] }> = [];
  let line = 1;
  let i = 0;
  const s = text.replace(/^\uFEFF/, '');
  while (i < s.length) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let f = '';
      if (s[i] === '"') {
        i++;
        for (;;) {
          if (i >= s.length) throw new UserError('FW_USER_INVALID', `line ${start}: a quoted field is not closed`);
          if (s[i] === '"') {
            if (s[i + 1] === '"') { f += '"'; i += 2; continue; }
            i++;
            break;
          }
          if (s[i] === '\n') line++;
          f += s[i++];
        }
        while (i < s.length && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') i++; // text after the closing quote is ignored
      } else {
        while (i < s.length && s[i] !== ',' && s[i] !== '\n' && s[i] !== '\r') f += s[i++];
      }
      fields.push(f.trim());
      if (s[i] === ',') { i++; continue; }
      if (s[i] === '\r') i++;
      if (s[i] === '\n') { i++; line++; }
      break;
    }
    if (fields.some((f) => f !== '')) out.push({ line: start, fields });
  }
  return out;
}

export interface StarterRules {
  /** roles the importing person may create */
  mayAdd: (role: Role) => boolean;
  groups: readonly string[];
  defaultGroup: string;
  /** user names already in the directory (normalised) */
  existing: ReadonlySet<string>;
}

export function parseStarters(text: string, rules: StarterRules): { starters: Starter[]; problems: StarterProblem[] } {
  let records: Array<{ line: number; fields: string[] }>;
  try {
    records = csvRecords(text);
  } catch (e) {
    const m = /^line (\d+): (.*)$/.exec((e as Error).message);
    return { starters: [], problems: [{ line: Number(m?.[1] ?? 1), message: m?.[2] ?? (e as Error).message }] };
  }
  const [head, ...rows] = records;
  if (!head) return { starters: [], problems: [{ line: 1, message: `the file is empty: expected a header row (${COLUMNS.join(',')}) and one person a line` }] };
  const names = head.fields.map((f) => f.toLowerCase());
  const problems: StarterProblem[] = [];
  const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (unknown.length) problems.push({ line: head.line, message: `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}: the columns are ${COLUMNS.join(', ')} (group may be left out)` });
  for (const need of ['username', 'role']) if (!names.includes(need)) problems.push({ line: head.line, message: `the header row has no "${need}" column` });
  if (problems.length) return { starters: [], problems };
  if (rows.length === 0) return { starters: [], problems: [{ line: head.line, message: 'no people below the header row' }] };
  if (rows.length > MAX_STARTERS) return { starters: [], problems: [{ line: rows[MAX_STARTERS]!.line, message: `more than ${MAX_STARTERS} people in one file: split it` }] };
  const col = (r: string[], n: string) => r[names.indexOf(n)] ?? '';
  const seen = new Map<string, number>();
  const starters: Starter[] = [];
  for (const { line, fields } of rows) {
    if (fields.length > names.length) { problems.push({ line, message: `${fields.length} fields, the header has ${names.length}` }); continue; }
    let username: string;
    try {
      username = validateUsername(col(fields, 'username'));
    } catch (e) {
      problems.push({ line, message: (e as Error).message.replace(/^--username/, 'username') });
      continue;
    }
    const role = col(fields, 'role').toLowerCase() as Role;
    const group = col(fields, 'group') || rules.defaultGroup;
    if (!ROLES.includes(role)) problems.push({ line, message: `role "${col(fields, 'role')}": expected one of ${ROLES.join(', ')}` });
    else if (!rules.mayAdd(role)) problems.push({ line, message: `role ${role}: only a director adds ${role} accounts` });
    else if (!rules.groups.includes(group)) problems.push({ line, message: `group "${group}" is not in policy.groups (${rules.groups.join(', ')})` });
    else if (rules.existing.has(username)) problems.push({ line, message: `user "${username}" already exists` });
    else if (seen.has(username)) problems.push({ line, message: `user "${username}" is also on line ${seen.get(username)}` });
    else starters.push({ line, username, role, group });
    if (!seen.has(username)) seen.set(username, line);
  }
  return problems.length ? { starters: [], problems } : { starters, problems };
}
