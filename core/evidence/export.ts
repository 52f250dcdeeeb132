import { auditLogFor } from '../audit/log.ts';
import { loadSigningKey } from '../keys.ts';
import type { BuildContext } from '../reports/context.ts';
import { fetchSubjectEvents, type InvestigationScope } from '../reports/investigation.ts';
import { writeEvidencePack, type EvidenceManifest } from './pack.ts';

// The evidence pack of an open investigation, for the console's export action (the console checks
// the director's authority and appends the audit row before calling this).

const COLUMNS = ['time', 'event id', 'group', 'domain', 'path', 'status', 'category', 'action', 'bytes up', 'bytes down', 'file', 'flags'];

type SubjectEvent = Awaited<ReturnType<typeof fetchSubjectEvents>>[number];
const BLOCKING = new Set(['block', 'quota', 'denied-client']);

/** Keeps the records of the kinds the investigation names (the console's kinds: visits means every request). */
function inKinds(kinds: readonly string[] | undefined): (e: SubjectEvent) => boolean {
  if (!kinds || kinds.includes('visits')) return () => true;
  return (e) => (kinds.includes('downloads') && e.filename !== '')
    || (kinds.includes('uploads') && (e.bytes_up > 0 || e.flags.includes('large-upload')))
    || (kinds.includes('blocked') && BLOCKING.has(e.action));
}

export async function exportEvidencePack(ctx: BuildContext & { dataDir: string }, scope: InvestigationScope & { kinds?: readonly string[] }, outDir: string): Promise<EvidenceManifest> {
  const events = (await fetchSubjectEvents(ctx, scope)).filter(inKinds(scope.kinds));
  const head = (await auditLogFor(ctx.store).list(1))[0];
  return writeEvidencePack(outDir, {
    investigation: { id: scope.investigationId, subject: scope.subject, allegation: scope.allegation, from: scope.from, to: scope.to },
    auditHead: head ? { seq: head.seq, hash: head.hash } : null,
    columns: COLUMNS,
    rows: events.map((e) => [new Date(e.t).toISOString(), e.event_id, e.user_group, e.host, e.path, e.status, e.category, e.action, e.bytes_up, e.bytes_down, e.filename, e.flags.join(' ')]),
    signingKey: loadSigningKey(ctx.dataDir),
  });
}
