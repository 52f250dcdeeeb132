// Time online from request times, pure: requests closer together than the gap belong to one
// browsing session; each session counts at least the minimum (analyser.sessionGapMinutes and
// analyser.sessionMinimumMinutes, the same rule the reports use).

export function timeOnlineMs(sortedTimes: readonly number[], gapMs: number, minimumMs: number): number {
  if (sortedTimes.length === 0) return 0;
  let total = 0;
  let start = sortedTimes[0]!;
  let last = start;
  for (let i = 1; i < sortedTimes.length; i++) {
    const t = sortedTimes[i]!;
    if (t - last > gapMs) {
      total += Math.max(last - start, minimumMs);
      start = t;
    }
    last = t;
  }
  return total + Math.max(last - start, minimumMs);
}
