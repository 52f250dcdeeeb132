import type { ConsoleDeps } from './deps.ts';
import { UUID_RE } from './reports.ts';

// Tables record people as console user_ids (or staff pseudonyms for block-page requests); names
// come from the user directory at display time only.

export function nameResolver(deps: ConsoleDeps): (id: string) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  return (id: string) => {
    let p = cache.get(id);
    if (!p) {
      p = UUID_RE.test(id)
        ? deps.users.getById(id).then((u) => u ? u.username : `unknown account ${id.slice(0, 8)}`)
        : Promise.resolve(id === 'anonymous' || id === 'system' ? id : `staff member ${id}`);
      cache.set(id, p);
    }
    return p;
  };
}
