import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleApp } from '../../dashboards/app.ts';
import { consoleDeps } from '../../dashboards/role.ts';
import { smtpNotifier, watchRequests } from '../../dashboards/notify.ts';
import { SECURE_SESSION_COOKIE } from '../../dashboards/access.ts';
import { openConsole, PASSWORD, type Account } from './harness.ts';

// IT pages that are not about reports (the policy tester runs the proxy's own engine over the test
// lists; list health), cookies when served over TLS, and the director notification mail, delivered
// to a small SMTP listener on 127.0.0.1 and checked for personal data.

const YAML = `
policy:
  rules:
    - { id: never, categories: [gambling], action: block, clause: "Gambling sites are never acceptable." }
`;

let h: Awaited<ReturnType<typeof openConsole>>;
let ian: Account;

beforeAll(async () => {
  h = await openConsole(YAML);
  ian = await h.addUser('ian', 'it', 'it');
  await h.addUser('sam', 'staff');
});
afterAll(async () => { await h?.cleanup(); });

describe('IT pages', () => {
  it('the policy tester gives the proxy engine\'s decision, escaped, and names bad input', async () => {
    const s = await h.sessionFor(ian);
    const blocked = await h.request('GET', '/policy-test?user=sam&url=https%3A%2F%2Fwww.bet365.com%2Fodds', { cookie: s.cookie });
    expect(blocked.status).toBe(200);
    expect(blocked.text).toMatch(/<th>Action<\/th><td>block<\/td>/);
    expect(blocked.text).toMatch(/<th>Category<\/th><td>gambling<\/td>/);
    expect(blocked.text).toContain('Gambling sites are never acceptable.');
    const allowed = await h.request('GET', '/policy-test?user=sam&url=https%3A%2F%2Fwww.gov.uk%2F', { cookie: s.cookie });
    expect(allowed.text).toMatch(/<th>Action<\/th><td>allow<\/td>/);
    const ghost = await h.request('GET', '/policy-test?user=ghost&url=x.example', { cookie: s.cookie });
    expect(ghost.status).toBe(400);
    expect(ghost.text).toMatch(/user: no such user/);
    const badTime = await h.request('GET', '/policy-test?user=sam&url=x.example&at=tomorrowish', { cookie: s.cookie });
    expect(badTime.status).toBe(400);
    expect(badTime.text).toMatch(/at: expected an ISO time/);
  });

  it('list health counts entries per category without any personal data', async () => {
    const res = await h.request('GET', '/lists', { cookie: (await h.sessionFor(ian)).cookie });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<td>gambling<\/td><td>\d+<\/td>/);
  });
});

describe('over TLS', () => {
  it('the session cookie is __Host-, Secure, HttpOnly, SameSite=Strict and HSTS is sent', async () => {
    const app = createConsoleApp(consoleDeps(h.p, { tls: true })).app;
    const res = await app.request('https://console.example/api/session', {
      method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://console.example' },
      body: JSON.stringify({ username: 'sam', password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie.startsWith(`${SECURE_SESSION_COOKIE}=`)).toBe(true);
    for (const flag of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']) expect(cookie).toContain(flag);
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
    // the plain-HTTP cookie name is not accepted by a TLS console
    const id = /=([^;]+)/.exec(cookie)![1]!;
    expect((await app.request('https://console.example/my', { headers: { cookie: `fw_session=${id}` } })).status).toBe(401);
    expect((await app.request('https://console.example/my', { headers: { cookie: `${SECURE_SESSION_COOKIE}=${id}` } })).status).toBe(200);
  });
});

/** Just enough SMTP to accept one message; records what the client sent. */
function smtpSink(): Promise<{ server: Server; port: number; messages: string[] }> {
  const messages: string[] = [];
  const server = createServer((sock) => {
    let data = false;
    let buf = '';
    sock.write('220 localhost ESMTP test\r\n');
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = data ? buf.indexOf('\r\n.\r\n') : buf.indexOf('\r\n')) >= 0) {
        if (data) {
          messages.push(buf.slice(0, i));
          buf = buf.slice(i + 5);
          data = false;
          sock.write('250 queued\r\n');
          continue;
        }
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 localhost\r\n');
        else if (verb === 'DATA') { data = true; sock.write('354 go ahead\r\n'); }
        else if (verb === 'QUIT') { sock.end('221 bye\r\n'); }
        else sock.write('250 ok\r\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0, messages });
  }));
}

describe('notifications', () => {
  it('mails the directors when a request arrives (from the console or recorded elsewhere), with no names, reasons or hosts in it', async () => {
    const sink = await smtpSink();
    const config = { ...h.p.config, console: { ...h.p.config.console, smtp: { url: `smtp://127.0.0.1:${sink.port}?ignoreTLS=true`, from: 'fairwatch@example.org', to: ['directors@example.org'] } } };
    const notify = smtpNotifier(config, () => 'http://127.0.0.1:8080', (err) => { throw new Error(err); });
    const stop = await watchRequests(h.p.redis, notify, h.p.log);
    const mails = async (n: number) => {
      for (let i = 0; i < 200 && sink.messages.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      return sink.messages.length;
    };
    try {
      const app = createConsoleApp(consoleDeps(h.p, { config })).app;
      const report = await h.insertReport({ json: {} });
      const s = await h.sessionFor(ian);
      const res = await app.request(`/api/reports/${report}/access-requests`, {
        method: 'POST', headers: { cookie: s.cookie, origin: 'http://localhost', 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'Sensitive: checking bet365.com use by sam' }),
      });
      expect(res.status).toBe(201);
      expect(await mails(1)).toBe(1);
      const mail = sink.messages[0]!;
      expect(mail).toMatch(/a request is waiting/);
      expect(mail).toContain('http://127.0.0.1:8080/inbox');
      for (const secret of ['ian', 'sam', 'bet365', 'Sensitive', report]) expect(mail).not.toContain(secret);
      // a block-page request is recorded straight into the authorisation store: directors hear of it too
      const pseudonym = h.p.pseudonyms.user('sam');
      await h.deps.authz.request({ subject: 'work-exception', target: 'research.example.org', requester: pseudonym, reason: 'safeguarding' });
      expect(await mails(2)).toBe(2);
      expect(sink.messages[1]).not.toMatch(/research|safeguarding|[0-9a-f]{16}/);
    } finally {
      await stop();
      sink.server.close();
    }
  });
});
