import type { RoleDef } from '../../core/role.ts';
import { Ingester } from './ingester.ts';

const DRAIN_AT_STOP_MS = 3000;

// The `ingest` role: in `start` it runs inside the primary (the embedded engine allows one process
// per data directory); `fairwatch ingest` alone is for server mode or a data directory nothing else
// holds.
export const ingestRole: RoleDef = {
  needs: { store: true, redis: true },
  async start(p) {
    const ingester = new Ingester({ store: p.store, redis: p.redis, pipeline: p.config.pipeline, log: p.log.child({ part: 'ingest' }) });
    await ingester.start();
    const { stream, batchRows, batchMs } = p.config.pipeline;
    return {
      summary: `ingest: Redis stream ${stream} → ClickHouse events (group ${ingester.group}, batches of ${batchRows} events or ${batchMs} ms)`,
      // at shutdown the proxy (stopped first) has just flushed into the stream: store that too
      stop: () => ingester.stop(DRAIN_AT_STOP_MS),
    };
  },
};
