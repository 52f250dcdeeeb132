import type { BandName, Config } from '../config/schema.ts';

// Which part of the working week an instant falls in, in the organisation's time zone. Bands are
// half-open: 09:00 ≤ working < 17:00, so 17:00:00 exactly is already out of hours. Local wall time
// comes from Intl, so DST change days (Europe/London 01:00→02:00 in March, 02:00→01:00 in October)
// need no special cases. Bank holidays and non-working days are out of hours all day.

export type TimeConfig = Config['policy']['time'];

export const BANDS: readonly BandName[] = ['working', 'break', 'out-of-hours'];

export interface LocalTime {
  /** YYYY-MM-DD */
  date: string;
  /** 1 = Monday … 7 = Sunday */
  weekday: number;
  /** minutes since local midnight */
  minute: number;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

export class BandClock {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly workingDays: Set<number>;
  private readonly holidays: Set<string>;
  private readonly work: [number, number];
  private readonly breaks: Array<[number, number]>;
  // Bands change only on whole minutes (HH:MM boundaries, whole-minute zone offsets), so one
  // cached minute serves every request in it; Intl formatting costs microseconds.
  private cachedMinute = NaN;
  private cachedBand: BandName = 'out-of-hours';

  constructor(readonly timezone: string, time: TimeConfig) {
    this.fmt = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    });
    this.workingDays = new Set(time.workingDays);
    this.holidays = new Set(time.bankHolidays);
    this.work = [toMinutes(time.workingHours.start), toMinutes(time.workingHours.end)];
    this.breaks = time.breaks.map((b) => [toMinutes(b.start), toMinutes(b.end)]);
  }

  local(at: Date): LocalTime {
    const parts: Record<string, string> = {};
    for (const p of this.fmt.formatToParts(at)) parts[p.type] = p.value;
    return {
      date: `${parts.year}-${parts.month}-${parts.day}`,
      weekday: WEEKDAYS[parts.weekday!] ?? 0,
      minute: Number(parts.hour) * 60 + Number(parts.minute),
    };
  }

  band(at: Date): BandName {
    const minute = Math.floor(at.getTime() / 60_000);
    if (minute === this.cachedMinute) return this.cachedBand;
    const band = this.bandOf(this.local(at));
    this.cachedMinute = minute;
    this.cachedBand = band;
    return band;
  }

  bandOf(t: LocalTime): BandName {
    if (!this.workingDays.has(t.weekday) || this.holidays.has(t.date)) return 'out-of-hours';
    if (t.minute < this.work[0] || t.minute >= this.work[1]) return 'out-of-hours';
    for (const [s, e] of this.breaks) if (t.minute >= s && t.minute < e) return 'break';
    return 'working';
  }
}
