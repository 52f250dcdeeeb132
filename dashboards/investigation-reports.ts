import { buildInvestigation } from '../core/reports/investigation.ts';
import { saveBuiltReport } from '../core/reports/payload.ts';
import type { AuthRequest } from '../core/authorisation/model.ts';
import type { ConsoleDeps } from './deps.ts';
import { HttpError } from './access.ts';
import { readReport, type ReportContent } from './reports.ts';

// The investigation report (core/reports/investigation.ts) produced from an open investigation:
// its subject, window and kinds of record exactly as authorised, sealed like every report. The
// sealed payload names its investigation, and only people who may see that investigation now open
// it (directors included: an investigation is the opener's and their delegates' business). Redis
// keeps the list of an investigation's reports for its page.

const listKey = (invId: string) => `fairwatch:investigation-reports:${invId}`;

export async function produceInvestigationReport(deps: ConsoleDeps, inv: AuthRequest): Promise<string> {
  const subject = await deps.users.getById(String(inv.details.subject_user_id));
  if (!subject) throw new HttpError(404, 'the subject is no longer in the user directory');
  const built = await buildInvestigation({ store: deps.store, config: deps.config }, {
    investigationId: inv.id, subject: subject.username, subjectPseudonym: deps.pseudonyms.user(subject.username), allegation: inv.reason,
    from: new Date(Number(inv.details.from)).toISOString(), to: new Date(Number(inv.details.to)).toISOString(),
    kinds: Array.isArray(inv.details.kinds) ? inv.details.kinds.map(String) : undefined,
  });
  const id = await saveBuiltReport(deps.store, deps.reportKey, built, deps.config.organisation.name);
  await deps.redis.zadd(listKey(inv.id), deps.now(), id);
  return id;
}

/** Report ids produced for `invId`, newest first. */
export async function investigationReports(deps: ConsoleDeps, invId: string): Promise<string[]> {
  return (await deps.redis.zrange(listKey(invId), 0, 99, 'REV'));
}

/** The investigation a sealed investigation report belongs to (from inside the payload). */
export function investigationOf(r: ReportContent): string {
  const j = r.json as { investigation_id?: unknown } | null;
  return typeof j?.investigation_id === 'string' ? j.investigation_id : '';
}

/** Opens report `rid` when it is a report of investigation `invId`; 404 otherwise. */
export async function readInvestigationReport(deps: ConsoleDeps, invId: string, rid: string): Promise<ReportContent> {
  const r = await readReport(deps, rid);
  if (!r || r.meta.kind !== 'investigation' || investigationOf(r) !== invId) throw new HttpError(404, `no report ${rid} in this investigation`);
  return r;
}
