import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registry } from '../../core/metrics.ts';
import { publishSiem } from '../../core/siem/events.ts';
import { SyslogForwarder, parseSyslogUrl } from '../../core/siem/forwarder.ts';
import { formatSyslog, octetFrame } from '../../core/siem/rfc5424.ts';
import { parseOctetFrames, parseSyslog } from './syslog-parse.ts';
import { createCa } from '../../core/tls/ca.ts';
import { LeafMinter } from '../../core/tls/leaf.ts';
import { openConsole, ORIGIN } from '../console/harness.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { pollUntil } from '../helpers/poll.ts';
import { hashPassword } from '../../core/identity/users.ts';
import { basic, rawExchange, startOrigin, startProxy } from '../proxy/harness.ts';
import { startSyslogReceiver, type Receiver } from './syslog-receiver.ts';

// Audit rows and security events reach a SIEM as RFC 5424 over TLS (octet-counted frames), from
// the real console sign-in path and the real proxy; nobody's browsing and no user name goes with them.

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => { for (const c of cleanups.reverse()) await c(); });

const metric = async (name: string, label: Record<string, string>) => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(label).every(([k, want]) => (x.labels as Record<string, string>)[k] === want));
  return Number(v?.value ?? 0);
};

describe('RFC 5424 formatting and framing', () => {
  it('escapes structured-data values, frames by octets (UTF-8) and parses back', () => {
    const text = formatSyslog({ facility: 13, severity: 4, tsMs: Date.UTC(2026, 0, 2, 3, 4, 5), hostname: 'gw 1', appName: 'fairwatch', procId: '42', msgId: 'audit',
      sd: { 'audit@32473': { seq: 7, target: 'a"b]c\\d' } }, msg: 'café' });
    expect(text).toBe('<108>1 2026-01-02T03:04:05.000Z gw1 fairwatch 42 audit [audit@32473 seq="7" target="a\\"b\\]c\\\\d"] \ufeffcafé');
    const framed = Buffer.concat([octetFrame(text), octetFrame('<13>1 - - - - - -')]);
    const { messages, rest } = parseOctetFrames(framed.subarray(0, framed.length - 3));
    expect(messages).toEqual([text]);
    expect(rest.length).toBeGreaterThan(0);
    const p = parseSyslog(text);
    expect(p.sd['audit@32473']).toEqual({ seq: '7', target: 'a"b]c\\d' });
    expect(p.msg).toBe('café');
  });

  it('names a bad url', () => {
    expect(() => parseSyslogUrl('https://siem:6514')).toThrow(/siem\.syslog\.url: expected tls:\/\/host:port/);
    expect(parseSyslogUrl('tls://siem.example.org:6514')).toEqual({ transport: 'tls', host: 'siem.example.org', port: 6514 });
  });
});

describe('audit and security events to a SIEM', () => {
  it('over TLS: sign-in failures, the lockout and refused proxy clients, with no name and no browsing', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.cleanup());
    const ca = createCa(join(tmp.dir, 'siem-ca'), { organisation: 'SIEM Test CA' });
    const leaf = new LeafMinter(ca).leafFor('127.0.0.1');
    const rx = await startSyslogReceiver('tls', { cert: leaf.certPem, key: leaf.keyPem });
    cleanups.push(() => rx.close());
    const h = await openConsole(`siem:\n  syslog:\n    url: "tls://127.0.0.1:${rx.port}"\n    ca: "${ca.certPath}"\n    hostname: gw1\n`);
    cleanups.push(() => h.cleanup());
    const alice = await h.addUser('alice', 'staff');

    const login = (password: string) => h.app.request('/login', { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: 'alice', password }).toString() });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await login('wrong password ' + i)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);

    // the proxy in this process refuses a client outside proxy.clientNetworks, twice: one event, the second folded
    const origin = await startOrigin();
    cleanups.push(() => origin.close());
    const px = await startProxy({ yaml: 'proxy:\n  clientNetworks: ["192.168.77.0/24"]\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n' });
    cleanups.push(() => px.close());
    for (let i = 0; i < 2; i++) expect(await rawExchange(px.port, `GET ${origin.url}/secret-path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)).toMatch(/^HTTP\/1\.1 403 /);
    // proxy password guessing past the limit: throttled, one event for the two refusals
    const px2 = await startProxy({ yaml: 'proxy:\n  allowDestinations: ["127.0.0.1"]\n  ipTunnels: allow\n', records: [{ username: 'samuel', passwordHash: await hashPassword('samuel password 1'), group: 'staff', disabled: false }], authLimits: { clientFailures: 2 } });
    cleanups.push(() => px2.close());
    for (let i = 0; i < 4; i++) {
      expect(await rawExchange(px2.port, `GET ${origin.url}/guessed-path HTTP/1.1\r\nHost: x\r\nConnection: close\r\nProxy-Authorization: ${basic('samuel', `guess ${i}`)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 407 /);
    }

    const rows = (await h.deps.audit.list(100)).reverse();
    const signIns = rows.filter((r) => r.action === 'sign-in');
    expect(signIns.map((r) => r.outcome)).toEqual(['refused-401', 'refused-401', 'refused-401', 'refused-401', 'refused-401', 'refused-429']);
    const got = await pollUntil(() => rx.messages.length, (n) => n >= rows.length + 3, 10_000, 25);
    expect(got).toBe(rows.length + 3);

    // every audit row, in order, with its own fields and hash
    const audit = rx.messages.filter((m) => m.msgId === 'audit');
    expect(audit.map((m) => m.sd['audit@32473']!.seq)).toEqual(rows.map((r) => String(r.seq)));
    const last = audit.at(-1)!;
    expect(last).toMatchObject({ pri: 13 * 8 + 4, version: 1, hostname: 'gw1', appName: 'fairwatch', msg: 'locked after repeated failures' });
    expect(last.sd['audit@32473']).toMatchObject({ actor: 'anonymous', action: 'sign-in', outcome: 'refused-429', hash: rows.at(-1)!.hash });
    expect(audit.filter((m) => m.sd['audit@32473']!.actor === alice.userId)).toHaveLength(5);

    const security = rx.messages.filter((m) => m.msgId === 'security').map((m) => m.sd['security@32473']!.event);
    expect(security).toEqual(['console-lockout', 'proxy-denied-client', 'proxy-auth-throttled']);
    const denied = rx.messages.find((m) => m.sd['security@32473']?.event === 'proxy-denied-client')!;
    expect(denied.sd['security@32473']!.src).toBe('127.0.0.1');

    const all = rx.raw.join('\n');
    expect(all).not.toMatch(/alice/i);
    expect(all).not.toContain('secret-path');
    expect(all).not.toMatch(/samuel|guessed-path/);
    expect(all).not.toContain(String(origin.port));
    expect(await metric('fairwatch_siem_sent_total', { kind: 'audit' })).toBeGreaterThanOrEqual(rows.length);
  });

  it('a collector that is away: publishing never waits, the queue is bounded and drops are counted; it drains when the collector is back', async () => {
    // a port reserved and closed: nothing listens there until the collector starts on it
    const probe: Server = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const before = await metric('fairwatch_siem_dropped_total', { reason: 'queue-full' });
    const fwd = new SyslogForwarder({ url: `tcp://127.0.0.1:${port}`, facility: 13, queueMax: 10, enterpriseId: 32473 });
    cleanups.push(() => fwd.close(0));
    const row = { seq: 1, tsMs: Date.now(), actor: 'system', actorRole: 'operator', action: 'test', target: '', reason: '', outcome: 'ok', prevHash: '', hash: 'h' };
    for (let i = 0; i < 15; i++) publishSiem({ kind: 'audit', row: { ...row, seq: i + 1 } });
    expect(fwd.queueLength).toBe(10);
    expect(await metric('fairwatch_siem_dropped_total', { reason: 'queue-full' }) - before).toBe(5);

    let rx: Receiver | null = null;
    try {
      rx = await startSyslogReceiver('tcp', undefined, port);
    } catch {
      return; // the port was taken meanwhile by another process: the bounded part above is what this test is for
    }
    cleanups.push(() => rx!.close());
    await pollUntil(() => rx!.messages.length, (n) => n >= 10, 40_000, 50);
    expect(rx.messages.map((m) => m.sd['audit@32473']!.seq)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  }, 60_000);

  it('from the command line: the audit row a CLI command writes reaches the collector before the process ends', async () => {
    const rx = await startSyslogReceiver('tcp');
    cleanups.push(() => rx.close());
    const tmp = tempDir();
    cleanups.push(() => tmp.cleanup());
    const cfg = join(tmp.dir, 'fairwatch.yaml');
    writeFileSync(cfg, `siem:\n  syslog:\n    url: "tcp://127.0.0.1:${rx.port}"\n`);
    const env = { FAIRWATCH_DATA_DIR: join(tmp.dir, 'data'), FAIRWATCH_CONFIG: cfg };
    const r = await runCli(['dsar', 'export', '--username', 'zed', '--out', join(tmp.dir, 'sar'), '--reason', 'SAR 2026-1'], { env, timeoutMs: 180_000 });
    expect(r.stderr).not.toMatch(/siem/);
    expect(r.code).toBe(0);
    // the process has ended: what it wrote to the socket is all there is (the receiver may still be reading it)
    await pollUntil(() => rx.messages.length, (n) => n >= 1, 5000, 20);
    const msgs = rx.messages.filter((m) => m.msgId === 'audit');
    expect(msgs.map((m) => m.sd['audit@32473']!.action)).toEqual(['dsar.export']);
    expect(msgs[0]!.sd['audit@32473']).toMatchObject({ actor: 'system', role: 'operator' });
    expect(msgs[0]!.sd['audit@32473']!.target).toMatch(/^pseudonym:/);
    expect(rx.raw.join('\n')).not.toContain('zed');
  }, 200_000);

  it('over UDP for a local collector: one message a datagram', async () => {
    const rx = await startSyslogReceiver('udp');
    cleanups.push(() => rx.close());
    const fwd = new SyslogForwarder({ url: `udp://127.0.0.1:${rx.port}`, facility: 10, queueMax: 100, enterpriseId: 99 });
    cleanups.push(() => fwd.close(0));
    publishSiem({ kind: 'security', event: 'proxy-auth-throttled', tsMs: Date.now(), src: '10.0.0.9', detail: 'proxy credentials refused after repeated failures' });
    await pollUntil(() => rx.messages.length, (n) => n >= 1, 5000, 20);
    expect(rx.messages[0]).toMatchObject({ pri: 10 * 8 + 4, msgId: 'security', sd: { 'security@99': { event: 'proxy-auth-throttled', src: '10.0.0.9' } } });
  });
});
