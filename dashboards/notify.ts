import type { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import { REQUESTS_CHANNEL, type RequestAnnouncement } from '../core/authorisation/store.ts';
import type { Config } from '../core/config/schema.ts';
import type { Logger } from '../core/log.ts';
import { logRedisErrors } from '../core/storage/redis-errors.ts';

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

/**
 * Calls `notify` for every recorded request that waits for a decision, whichever process recorded
 * it (console routes, block-page requests). Returns a function that stops listening.
 */
export async function watchRequests(redis: Redis, notify: (what: 'request') => Promise<void>, log: Logger): Promise<() => Promise<void>> {
  const sub = redis.duplicate();
  logRedisErrors(sub, log, 'request notifications');
  sub.on('message', (_channel: string, message: string) => {
    let note: RequestAnnouncement;
    try {
      note = JSON.parse(message) as RequestAnnouncement;
    } catch {
      return;
    }
    if (note.needsDecision) void notify('request').catch(() => undefined);
  });
  await sub.subscribe(REQUESTS_CHANNEL);
  return async () => {
    sub.disconnect();
  };
}
