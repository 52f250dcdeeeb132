import type { AccessEvent } from '../../core/events/event.ts';
import { eventsOfEntry } from '../../core/events/wire.ts';

/** Every event in a list of stream entries, as `redis.xrange(stream, '-', '+')` returns them. */
export function eventsOfEntries(entries: ReadonlyArray<[string, readonly string[]]>): AccessEvent[] {
  return entries.flatMap(([, fields]) => eventsOfEntry(fields));
}
