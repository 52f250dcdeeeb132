import { counter, gauge, histogram } from '../metrics.ts';

// Pipeline metrics: events in, events stored, stream lag, spool bytes, insert latency.
// Created lazily through core/metrics so every process that loads this module shares one set.

export const pipelineMetrics = {
  emitted: counter('fairwatch_events_emitted_total', 'events handed to the sink by the proxy'),
  streamed: counter('fairwatch_events_streamed_total', 'events written to the Redis stream (live or replayed)'),
  spooled: counter('fairwatch_events_spooled_total', 'events written to the disk spool because Redis was unreachable or slow'),
  replayed: counter('fairwatch_events_replayed_total', 'spooled events replayed into the stream'),
  replaySkipped: counter('fairwatch_events_replay_skipped_total', 'spooled events found already in the stream when replayed (a write that timed out here but that Redis carried out), not sent again'),
  dropped: counter('fairwatch_events_dropped_total', 'events lost because the spool was full'),
  spoolBytes: gauge('fairwatch_spool_bytes', 'bytes in the disk spool waiting for Redis'),
  spoolUsage: gauge('fairwatch_spool_usage_ratio', 'disk spool size as a share of pipeline.spoolMaxMB (warns at 0.8)'),
  stored: counter('fairwatch_events_stored_total', 'events inserted into ClickHouse and acknowledged'),
  rejected: counter('fairwatch_events_rejected_total', 'stream entries that were not valid events (moved to the dead-letter stream)'),
  insertFailures: counter('fairwatch_ingest_insert_failures_total', 'ClickHouse inserts that failed and were retried'),
  insertSeconds: histogram('fairwatch_ingest_insert_seconds', 'time to insert one batch into ClickHouse', [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
  lag: gauge('fairwatch_stream_lag', 'stream entries (up to 200 events each) not yet acknowledged by the ingester group (pending + not yet read)'),
  refused: counter('fairwatch_redis_refused_writes_total', 'event writes Redis refused (reason: memory = at maxmemory, disk = it cannot write its append-only file); the events went to the spool', ['reason']),
  spoolWriteErrors: counter('fairwatch_spool_write_errors_total', 'spool writes that failed (disk full or unwritable): their events are counted in fairwatch_events_dropped_total'),
  spoolWriteFailing: gauge('fairwatch_spool_write_failing', '1 while the last spool write failed (disk full or unwritable), else 0'),
  journalWriteErrors: counter('fairwatch_journal_write_errors_total', 'journal appends that failed (disk full): those events still go to Redis, but would not survive a killed worker'),
  ingestFailingSince: gauge('fairwatch_ingest_failing_since_seconds', 'Unix time since which ClickHouse has refused the batch in hand (0 when inserts succeed)'),
  ingestDiskFull: gauge('fairwatch_ingest_disk_full', '1 while ClickHouse refuses inserts because the disk is full, else 0'),
  claimed: counter('fairwatch_ingest_claimed_total', 'entries taken over from a dead ingester'),
};
