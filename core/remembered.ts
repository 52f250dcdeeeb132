// Answers a process is asked for again and again about the same few keys (a client's address, a
// person's pseudonym, the console's link), kept in a Map that is emptied once it holds `max`: a
// burst of new keys (a scan, a DHCP range) costs recomputing, never unbounded memory.

/** `map`'s value for `key`, made by `make(key)` and kept when it has none. */
export function remembered<K, V>(map: Map<K, V>, key: K, max: number, make: (key: K) => V): V {
  let value = map.get(key);
  if (value === undefined) {
    if (map.size >= max) map.clear();
    value = make(key);
    map.set(key, value);
  }
  return value;
}
