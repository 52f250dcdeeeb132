import nodemailer from 'nodemailer';
import type { Config } from '../config/schema.ts';
import { categoryLabel } from '../pages/words.ts';
import type { Alert } from './store.ts';

// The e-mail to policy.alerts.notify when an alert is raised. It carries no personal data: the kind
// of site, how many attempts, the window, and a link to the console — no name, no pseudonym, no
// site, no address. Who it was is seen in the console, and only as a pseudonym.

/** What the mail may say: no pseudonym, no site. */
export type AlertMailFacts = Pick<Alert, 'category' | 'kind' | 'from' | 'to' | 'attempts' | 'threshold'>;

function localTime(t: number, tz: string, withDate: boolean): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    ...(withDate ? { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' } : {}),
  }).format(new Date(t));
}

export function renderAlertMail(config: Config, f: AlertMailFacts, consoleUrl: string): { subject: string; text: string } {
  const tz = config.organisation.timezone;
  const label = categoryLabel(config, f.category);
  const span = f.kind === 'hour'
    ? `within one hour (${localTime(f.from, tz, true)} to ${localTime(f.to, tz, false)}, ${tz} time)`
    : `within one day (${new Intl.DateTimeFormat('en-GB', { timeZone: tz, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(new Date(f.from))}, ${tz} time)`;
  return {
    subject: `fairwatch: an alert is waiting (${label})`,
    text: [
      `An alert was raised in the fairwatch console of ${config.organisation.name}.`,
      '',
      `Category: ${label}`,
      `Blocked attempts: ${f.attempts} ${span}; the alert threshold is ${f.threshold}.`,
      '',
      'This message deliberately says nothing about who it was or which sites: the console shows the',
      'alert under a pseudonym to directors and the data protection officer, and a director decides',
      'whether to ask for an investigation, which then follows the usual approval.',
      '',
      `Sign in to see it: ${consoleUrl.replace(/\/$/, '')}/alerts`,
      '',
    ].join('\n'),
  };
}

export type AlertMailer = (f: AlertMailFacts) => Promise<void>;

/** Sends alert mail to policy.alerts.notify through console.smtp; null when nobody is to be told. */
export function alertMailer(config: Config, consoleUrl: () => Promise<string>, log: (err: string) => void): AlertMailer | null {
  const smtp = config.console.smtp;
  const to = config.policy.alerts.notify;
  if (!smtp || to.length === 0) return null;
  const transport = nodemailer.createTransport(smtp.url);
  return async (f) => {
    try {
      const mail = renderAlertMail(config, f, await consoleUrl());
      await transport.sendMail({ from: smtp.from, to, subject: mail.subject, text: mail.text });
    } catch (e) {
      log((e as Error).message); // a mail failure never stops ingestion
    }
  };
}
