import nodemailer from 'nodemailer';
import type { Config } from '../core/config/schema.ts';

// Optional e-mail to the directors when a request arrives. Deliberately content-free: no names, no
// reasons, no hosts — only that something is waiting and where to look.

export function smtpNotifier(config: Config, consoleUrl: () => string, log: (err: string) => void): (what: 'request') => Promise<void> {
  const smtp = config.console.smtp;
  if (!smtp) return async () => {};
  const transport = nodemailer.createTransport(smtp.url);
  return async () => {
    try {
      await transport.sendMail({
        from: smtp.from, to: smtp.to, subject: 'fairwatch: a request is waiting for a director',
        text: `A new request is waiting in the fairwatch console of ${config.organisation.name}.\nSign in to decide it: ${consoleUrl()}/inbox\n`,
      });
    } catch (e) {
      log((e as Error).message); // a mail failure never blocks the request itself
    }
  };
}
