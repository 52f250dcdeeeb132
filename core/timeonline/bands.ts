import type { BandName } from '../config/schema.ts';
import type { Session } from './sessions.ts';

// Splits time into the policy's bands (working hours, breaks, out of hours) in the organisation's
// time zone. Pure apart from Intl for the zone arithmetic.

export interface BandPolicy {
  timezone: string;
  /** 1 = Monday … 7 = Sunday */
  workingDays: number[];
  workingHours: { start: string; end: string };
  breaks: Array<{ start: string; end: string }>;
  bankHolidays: string[];
}

export type BandTotals = Record<BandName, number>;
export const emptyBands = (): BandTotals => ({ working: 0, break: 0, 'out-of-hours': 0 });

const hm = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
const WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export class BandClock {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly work: [number, number];
  private readonly breaks: Array<[number, number]>;
  /** minutes of the day where the band may change */
  private readonly edges: number[];
  private readonly days: Set<number>;
  private readonly holidays: Set<string>;

  constructor(p: BandPolicy) {
    this.fmt = new Intl.DateTimeFormat('en-GB', {
      timeZone: p.timezone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    this.work = [hm(p.workingHours.start), hm(p.workingHours.end)];
    this.breaks = p.breaks.map((b) => [hm(b.start), hm(b.end)]);
    this.edges = [...new Set([this.work[0], this.work[1], ...this.breaks.flat(), 1440])].sort((a, b) => a - b);
    this.days = new Set(p.workingDays);
    this.holidays = new Set(p.bankHolidays);
  }

  /** Local wall-clock parts of an instant. */
  local(t: number): { date: string; weekday: number; minute: number; msIntoMinute: number } {
    const parts: Record<string, string> = {};
    for (const x of this.fmt.formatToParts(new Date(t))) parts[x.type] = x.value;
    return {
      date: `${parts.year}-${parts.month}-${parts.day}`,
      weekday: WEEKDAY[parts.weekday!] ?? 0,
      minute: Number(parts.hour) * 60 + Number(parts.minute),
      msIntoMinute: Number(parts.second) * 1000 + (t % 1000 + 1000) % 1000,
    };
  }

  bandAt(t: number): BandName {
    const l = this.local(t);
    return this.bandOf(l.date, l.weekday, l.minute);
  }

  private bandOf(date: string, weekday: number, minute: number): BandName {
    if (!this.days.has(weekday) || this.holidays.has(date)) return 'out-of-hours';
    if (minute < this.work[0] || minute >= this.work[1]) return 'out-of-hours';
    for (const [s, e] of this.breaks) if (minute >= s && minute < e) return 'break';
    return 'working';
  }

  /** Adds the interval [from, to) to `into`, split by band. */
  addInterval(from: number, to: number, into: BandTotals): void {
    let t = from;
    // bounded: at most a handful of band edges per day of interval
    for (let guard = 0; t < to && guard < 100_000; guard++) {
      const l = this.local(t);
      const band = this.bandOf(l.date, l.weekday, l.minute);
      const edge = this.edges.find((e) => e > l.minute) ?? 1440;
      // Wall-clock arithmetic: around a DST change the step can be off by the shift; the next
      // iteration re-reads the band, so at worst an hour of the night is classed as its neighbour
      // (both out of hours with any normal working day).
      const next = Math.min(to, t + (edge - l.minute) * 60_000 - l.msIntoMinute);
      into[band] += next - t;
      t = next > t ? next : t + 60_000;
    }
  }

  addSessions(sessions: readonly Session[], into: BandTotals = emptyBands()): BandTotals {
    for (const s of sessions) this.addInterval(s.start, s.end, into);
    return into;
  }
}
