import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/clickhouse.ts';
import { LegalHolds } from './holds.ts';

// What retention deletes and what it cannot, in words: for the analyser's log (at start and each
// night) and `fairwatch doctor`. Holds are named by id, requesting body, reference and legal basis;
// never by the people they cover.

export interface HeldLine {
  id: string;
  text: string;
}

export interface RetentionReport {
  /** the periods retention applies */
  policy: string;
  /** one line per open hold: what it keeps past retention and why */
  held: HeldLine[];
}

export function describeRetention(r: Config['retention']): string {
  return `events ${r.eventsDays} days, rollups ${r.rollupsDays} days, reports ${r.reportsDays} days; the audit log and the disclosure register are never expired`;
}

export async function retentionReport(store: Store, retention: Config['retention']): Promise<RetentionReport> {
  const holds = await new LegalHolds(store).retentionSummary();
  return {
    policy: describeRetention(retention),
    held: holds.map((h) => ({
      id: h.id,
      text: `hold ${h.id} (${h.requestingBody}, ref ${h.reference}, basis "${h.legalBasis}"): ${h.events} events and ${h.reports} reports kept past retention until released`,
    })),
  };
}
