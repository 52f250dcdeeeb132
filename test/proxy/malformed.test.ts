import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyParseError } from '../../proxy/client-error.ts';
import { rawExchange, startOrigin, startProxy, type Origin, type TestProxy } from './harness.ts';

// Malformed and ambiguous input: a clear status, an event, never a crash, and nothing smuggled to
// the origin behind an accepted request.

let origin: Origin;
let px: TestProxy;
const originRequests: string[] = [];

beforeAll(async () => {
  origin = await startOrigin();
  origin.server.on('request', (req) => originRequests.push(`${req.method} ${req.url}`));
  px = await startProxy();
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

describe('malformed requests', () => {
  it.each([
    ['Content-Length with Transfer-Encoding', (o: Origin) => `POST ${o.url}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET ${o.url}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`, 400, 'smuggling'],
    ['two different Content-Lengths', (o: Origin) => `POST ${o.url}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhelloGET ${o.url}/smuggled HTTP/1.1\r\n\r\n`, 400, 'smuggling'],
    ['a duplicated equal Content-Length', (o: Origin) => `POST ${o.url}/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400, 'smuggling'],
    ['an obfuscated Transfer-Encoding', (o: Origin) => `POST ${o.url}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 400, 'smuggling'],
    ['an unknown method', (o: Origin) => `FROB ${o.url}/small HTTP/1.1\r\nHost: x\r\n\r\n`, 501, 'malformed'],
    ['garbage', () => 'this is not http at all\r\n\r\n', 400, 'malformed'],
    ['headers larger than proxy.maxHeaderBytes', (o: Origin) => `GET ${o.url}/small HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'header-too-large'],
  ])('%s → %s with an event, nothing reaches the origin', async (_label, make, status, flag) => {
    const before = originRequests.length;
    const answer = await rawExchange(px.port, make(origin));
    expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    // the connection is closed after the error: nothing that followed on it is trusted
    expect(answer.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
    const e = await px.find((x) => x.status === status && x.flags.includes(flag));
    expect(e).toBeDefined();
    expect(e!.flags).toContain('malformed');
    expect(originRequests.slice(before)).toEqual([]);
  });

  it.each([
    ['a relative URL', 'GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400, /web proxy, not a web site/],
    ['a bad absolute URL', 'GET http://exa mple.com/ HTTP/1.1\r\nHost: x\r\n\r\n', 400, /./],
    ['an ftp:// URL', 'GET ftp://example.com/file HTTP/1.1\r\nHost: x\r\n\r\n', 400, /only http:\/\/ URLs/],
    ['credentials in the URL', 'GET http://user:pw@example.com/ HTTP/1.1\r\nHost: x\r\n\r\n', 400, /user name or password/],
    ['a CONNECT without a port', 'CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n', 400, /CONNECT needs host:port/],
  ])('%s → 400 with a page', async (_label, raw, status, text) => {
    const answer = await rawExchange(px.port, raw + '');
    expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(answer).toMatch(text);
  });

  it('the proxy still serves after all of that', async () => {
    const answer = await rawExchange(px.port, `GET ${origin.url}/small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('maps parser error codes to statuses', () => {
    expect(classifyParseError(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })).status).toBe(431);
    expect(classifyParseError(Object.assign(new Error('x'), { code: 'HPE_UNEXPECTED_CONTENT_LENGTH' })).flag).toBe('smuggling');
    expect(classifyParseError(Object.assign(new Error('x'), { code: 'HPE_INVALID_METHOD', rawPacket: Buffer.from('FROB http://x/ HTTP/1.1\r\n') })).status).toBe(501);
  });
});
