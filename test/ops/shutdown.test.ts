import { describe, expect, it } from 'vitest';
import { STOP_ORDER, stopOrder } from '../../cli/commands/roles.ts';
import { ROLE_ORDER } from '../../cli/roles.ts';

// SIGTERM on `start`: the proxy stops taking and drains its connections and flushes its sink first,
// then the ingester stores what is in the stream, then the console and the analyser; the platform
// (Redis, ClickHouse) closes after all of them.
describe('graceful shutdown order', () => {
  it('stops proxy, ingest, console, analyser whatever order they started in', () => {
    const started = ROLE_ORDER.map((r) => [r, r] as const);
    expect(stopOrder(started).map(([r]) => r)).toEqual(['proxy', 'ingest', 'console', 'analyser']);
    expect(stopOrder([['analyser', 1], ['proxy', 2]] as const).map(([r]) => r)).toEqual(['proxy', 'analyser']);
    expect([...STOP_ORDER].sort()).toEqual([...ROLE_ORDER].sort());
  });
});
