// Defaults a rule may leave out, read by the engine, the staff pages and the transparency page alike,
// so what a page promises is what the proxy does.

/** warn: minutes a "continue" allows the category when the rule names none */
export const CONTINUE_MINUTES_DEFAULT = 30;
/** quota: minutes a day when the rule names none */
export const QUOTA_MINUTES_DEFAULT = 30;

export function continueMinutesOf(rule: { continueMinutes?: number | undefined }): number {
  return rule.continueMinutes ?? CONTINUE_MINUTES_DEFAULT;
}

export function quotaMinutesOf(rule: { quotaMinutesPerDay?: number | undefined }): number {
  return rule.quotaMinutesPerDay ?? QUOTA_MINUTES_DEFAULT;
}
