import type { AccessEvent } from '../../core/events/event.ts';
import { decodeEvent, WIRE_FIELD } from '../../core/events/wire.ts';

/** Every event in one stream entry's fields (as XRANGE / XREADGROUP return them), in order. */
export function eventsOfEntry(fields: readonly string[]): AccessEvent[] {
  const out: AccessEvent[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === WIRE_FIELD) for (const line of fields[i + 1]!.split('\n')) out.push(decodeEvent(line));
  }
  return out;
}

/** Every event in a list of stream entries, as `redis.xrange(stream, '-', '+')` returns them. */
export function eventsOfEntries(entries: ReadonlyArray<[string, readonly string[]]>): AccessEvent[] {
  return entries.flatMap(([, fields]) => eventsOfEntry(fields));
}
