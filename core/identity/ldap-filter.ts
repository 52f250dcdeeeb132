// LDAP filter text built from a configured template and a typed value. The value is escaped as
// RFC 4515 section 3 requires, so a user name such as `*)(uid=*` matches only that literal name.

/** Escapes one assertion value: `\`, `*`, `(`, `)` and NUL become \5c, \2a, \28, \29, \00. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The template with each `{name}` replaced by the escaped value (unknown placeholders stay). */
export function fillFilter(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? escapeFilterValue(values[name]!) : whole));
}

/** DNs compare without regard to case or spaces around separators (CN=Staff, OU=x = cn=staff,ou=x). */
export function normaliseDn(dn: string): string {
  return dn.trim().replace(/\s*([,=+])\s*/g, '$1').toLowerCase();
}

/**
 * The fairwatch group for a directory user: the first entry of `mapping` (in the order written)
 * whose DN is among the user's groups, else `fallback`; null when neither (the user is refused).
 */
export function mapDirectoryGroup(userGroups: readonly string[], mapping: Readonly<Record<string, string>>, fallback: string | undefined): string | null {
  const mine = new Set(userGroups.map(normaliseDn));
  for (const [dn, group] of Object.entries(mapping)) if (mine.has(normaliseDn(dn))) return group;
  return fallback ?? null;
}
