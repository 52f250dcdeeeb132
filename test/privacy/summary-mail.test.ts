import { afterAll, describe, expect, it } from 'vitest';
import { AnalyserScheduler } from '../../analyser/schedule/scheduler.ts';
import { periodContaining, previousPeriod } from '../../analyser/schedule/periods.ts';
import { loadKey } from '../../core/keys.ts';
import { renderSummary, summaryMailer } from '../../core/privacy/summary.ts';
import { openTestPlatform } from '../helpers/platform.ts';
import { seedPerson } from './records.ts';
import { startSmtpSink } from './smtp-sink.ts';

// The name-free summary after a scheduled report: the real scheduler builds yesterday's nightly
// audit from events of two people, and the mail goes through an SMTP server this test runs on
// 127.0.0.1. It carries figures and the trend, a console link, and no name, pseudonym or site.

const TZ = 'Europe/London';
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => { for (const c of cleanup.reverse()) await c(); });

describe('summary e-mail', () => {
  it('trend arithmetic', () => {
    const z = { requests: 0, blocked: 0, warned: 0, mbDown: 0, mbUp: 0, people: 0 };
    const m = renderSummary({ org: 'O', job: 'nightly-audit', fromMs: 0, toMs: 86_400_000, now: { ...z, requests: 150, people: 2 }, before: { ...z, requests: 100, people: 2 }, consoleUrl: 'http://c/', reportId: 'r1', timezone: 'UTC' });
    expect(m.text).toMatch(/Web requests\s+150\s+\(up 50%; before: 100\)/);
    expect(m.text).toMatch(/People using the web\s+2\s+\(no change/);
    expect(m.text).toContain('http://c/reports/r1');
  });

  it('goes through a local SMTP server after a scheduled audit and names nobody', async () => {
    const smtp = await startSmtpSink();
    cleanup.push(smtp.close);
    const yaml = `organisation:\n  name: Riverside Trust\nconsole:\n  publicUrl: https://console.riverside.test\n  smtp:\n    url: smtp://127.0.0.1:${smtp.port}\n    from: fairwatch@riverside.test\n    to: [directors@riverside.test]\n    summaryTo: [board@riverside.test]\n`;
    const t = await openTestPlatform({ yaml });
    cleanup.push(t.cleanup);
    const p = t.platform;
    const yesterday = previousPeriod('day', periodContaining('day', Date.now(), TZ), TZ);
    const dayBefore = previousPeriod('day', yesterday, TZ);
    const a = await seedPerson(p, 'alice.smith', { count: 6, at: yesterday.from + 10 * 3_600_000, hostPrefix: 'alicesite' });
    const b = await seedPerson(p, 'bob.jones', { count: 4, at: yesterday.from + 11 * 3_600_000, hostPrefix: 'bobsite' });
    await seedPerson(p, 'alice.smith', { count: 5, at: dayBefore.from + 10 * 3_600_000, hostPrefix: 'alicebefore' });
    const mailErrors: string[] = [];
    const send = summaryMailer(p.config, p.store, () => 'https://console.riverside.test', (err) => { mailErrors.push(err); })!;
    expect(send).not.toBeNull();
    const scheduler = new AnalyserScheduler({ store: p.store, redis: p.redis, config: p.config, log: p.log, masterKey: loadKey(t.dataDir, 'report-master', {}), afterReport: send });
    const job = scheduler.job('nightly-audit');
    // a catch-up run sends nothing (a restart must not send a month of mail)
    const before = previousPeriod('day', dayBefore, TZ);
    expect((await scheduler.runPeriod(job, before, 'catch-up')).outcome).toBe('ok');
    const r = await scheduler.runPeriod(job, yesterday, 'scheduled');
    expect(r.outcome).toBe('ok');
    // runPeriod waits for the after-report step, which waits for the server's 250 to DATA
    expect(mailErrors).toEqual([]);
    expect(smtp.messages).toHaveLength(1);
    const m = smtp.messages[0]!;
    expect(m.to.join(' ')).toContain('board@riverside.test');
    expect(m.to.join(' ')).not.toContain('directors@');
    const body = m.data.replace(/=\r\n/g, '');
    expect(body).toMatch(/Subject: fairwatch: nightly audit ready \(10 requests, up 100%\)/);
    expect(body).toMatch(/Web requests\s+10\s+\(up 100%; before: 5\)/);
    expect(body).toMatch(/Blocked \(policy or quota\)\s+5/);
    expect(body).toMatch(/People using the web\s+2\s+\(up 100%; before: 1\)/);
    expect(body).toContain(`https://console.riverside.test/reports/${(r as { reportId: string }).reportId}`);
    for (const name of ['alice', 'bob', 'smith', 'jones', p.pseudonyms.user('alice.smith'), p.pseudonyms.user('bob.jones'), 'news', ...a.hosts, ...b.hosts, 'example']) {
      expect(body.toLowerCase()).not.toContain(name.toLowerCase());
    }
  }, 300_000);
});
