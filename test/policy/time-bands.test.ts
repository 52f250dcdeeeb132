import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { BandClock } from '../../core/policy/time-bands.ts';

const every = parseConfig(`
policy:
  time:
    workingDays: [1, 2, 3, 4, 5, 6, 7]
    workingHours: { start: "01:30", end: "17:00" }
    breaks: [{ start: "12:30", end: "13:30" }, { start: "15:00", end: "15:15" }]
    bankHolidays: ["2026-12-25", "2026-08-31"]
`).policy.time;

describe('time bands in Europe/London', () => {
  const clock = new BandClock('Europe/London', every);
  it.each([
    // instant (UTC), local wall time, band
    ['2026-03-29T00:59:59Z', '2026-03-29 00:59', 'out-of-hours'], // spring forward: 01:00 GMT becomes 02:00 BST
    ['2026-03-29T01:00:00Z', '2026-03-29 02:00', 'working'],
    ['2026-10-25T00:29:59Z', '2026-10-25 01:29', 'out-of-hours'], // fall back: 01:00-02:00 happens twice
    ['2026-10-25T00:30:00Z', '2026-10-25 01:30', 'working'],
    ['2026-10-25T01:30:00Z', '2026-10-25 01:30', 'working'], // the second 01:30, now GMT
    ['2026-10-25T16:59:59Z', '2026-10-25 16:59', 'working'],
    ['2026-10-25T17:00:00Z', '2026-10-25 17:00', 'out-of-hours'],
    ['2026-07-01T15:59:59Z', '2026-07-01 16:59', 'working'], // BST: 16:00Z is 17:00 local
    ['2026-07-01T16:00:00Z', '2026-07-01 17:00', 'out-of-hours'],
    ['2026-07-01T11:30:00Z', '2026-07-01 12:30', 'break'],
    ['2026-07-01T12:29:59Z', '2026-07-01 13:29', 'break'],
    ['2026-07-01T12:30:00Z', '2026-07-01 13:30', 'working'],
    ['2026-07-01T14:14:00Z', '2026-07-01 15:14', 'break'],
    ['2026-07-01T14:15:00Z', '2026-07-01 15:15', 'working'],
    ['2026-08-31T10:00:00Z', '2026-08-31 11:00', 'out-of-hours'], // bank holiday
    ['2026-12-25T10:00:00Z', '2026-12-25 10:00', 'out-of-hours'],
    ['2026-12-24T23:59:59Z', '2026-12-24 23:59', 'out-of-hours'],
  ])('%s (%s local) → %s', (iso, local, band) => {
    const t = clock.local(new Date(iso));
    expect(`${t.date} ${String(Math.floor(t.minute / 60)).padStart(2, '0')}:${String(t.minute % 60).padStart(2, '0')}`).toBe(local);
    expect(clock.band(new Date(iso))).toBe(band);
  });

  it('a per-minute cache never leaks a band across a minute boundary', () => {
    const c = new BandClock('Europe/London', every);
    expect(c.band(new Date('2026-07-01T15:59:59.999Z'))).toBe('working');
    expect(c.band(new Date('2026-07-01T16:00:00.000Z'))).toBe('out-of-hours');
    expect(c.band(new Date('2026-07-01T15:59:30.000Z'))).toBe('working');
  });

  it('weekends are out of hours with a Monday-Friday week', () => {
    const week = new BandClock('Europe/London', parseConfig('').policy.time);
    expect(week.band(new Date('2026-11-28T10:00:00Z'))).toBe('out-of-hours'); // Saturday
    expect(week.band(new Date('2026-11-30T10:00:00Z'))).toBe('working'); // Monday
    expect(week.local(new Date('2026-11-29T10:00:00Z')).weekday).toBe(7);
  });

  it('uses the configured zone, not the machine\'s', () => {
    const ny = new BandClock('America/New_York', parseConfig('').policy.time);
    // 13:59Z is 08:59 in New York (EST) but 13:59 in London
    expect(ny.band(new Date('2026-11-24T13:59:00Z'))).toBe('out-of-hours');
    expect(ny.band(new Date('2026-11-24T14:00:00Z'))).toBe('working');
    expect(ny.local(new Date('2026-11-24T13:59:00Z')).minute).toBe(8 * 60 + 59);
  });
});

describe('time band config', () => {
  it('refuses a band whose start is not before its end, naming the key', () => {
    expect(() => parseConfig('policy:\n  time:\n    breaks: [{ start: "13:30", end: "12:30" }]\n', 'f.yaml')).toThrow(/f\.yaml:3: policy\.time\.breaks\.0: start must be before end/);
  });
});
