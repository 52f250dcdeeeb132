import { describe, expect, it } from 'vitest';
import { parseAbsoluteTarget, parseAuthority } from '../../proxy/core.ts';
import { filenameFromDisposition, eventFilename as responseFilename } from '../../core/policy/file-rules.ts';
import { connectionTokens, outgoingRequestHeaders } from '../../proxy/hop-by-hop.ts';
import { RequestError } from '../../proxy/request-error.ts';

// The pure helpers behind the request paths, table-tested.

describe('request targets', () => {
  it.each([
    ['http://Example.COM/a/b?q=1#frag', { host: 'example.com', port: 80, path: '/a/b', query: 'q=1', url: 'http://example.com/a/b' }],
    ['http://example.com:8080', { host: 'example.com', port: 8080, path: '/', query: '' }],
    ['http://[::1]:81/x', { host: '::1', port: 81, path: '/x' }],
    ['http://2130706433/', { host: '127.0.0.1', port: 80 }],
    ['http://0x7f.1/', { host: '127.0.0.1' }],
  ])('absolute-form %s', (raw, expected) => {
    expect(parseAbsoluteTarget(raw)).toMatchObject(expected);
  });

  it.each(['/relative', 'https://example.com/', 'ftp://x/', 'http://u:p@example.com/', 'not a url'])('absolute-form %s is a 400', (raw) => {
    expect(() => parseAbsoluteTarget(raw)).toThrow(RequestError);
    try {
      parseAbsoluteTarget(raw);
    } catch (e) {
      expect((e as RequestError).status).toBe(400);
    }
  });

  it.each([
    ['example.com:443', { host: 'example.com', port: 443, scheme: 'https' }],
    ['[2001:db8::1]:443', { host: '2001:db8::1', port: 443 }],
    ['2130706433:443', { host: '127.0.0.1' }],
    ['example.com:80', { scheme: 'http' }],
  ])('authority-form %s', (raw, expected) => {
    expect(parseAuthority(raw)).toMatchObject(expected);
  });

  it.each(['example.com', 'example.com:0', 'example.com:70000', 'user@example.com:443', 'example.com:443/path', ':443'])('authority-form %s is a 400', (raw) => {
    expect(() => parseAuthority(raw)).toThrow(/CONNECT/);
  });
});

describe('filenames', () => {
  it.each([
    ['attachment; filename="report.pdf"', 'report.pdf'],
    ['attachment; filename=plain.txt', 'plain.txt'],
    ["attachment; filename*=UTF-8''caf%C3%A9.doc; filename=\"cafe.doc\"", 'café.doc'],
    ['attachment; filename="..\\\\..\\\\windows\\\\evil.exe"', 'evil.exe'],
    ['inline', ''],
    [undefined, ''],
  ])('Content-Disposition %s → %s', (header, name) => {
    expect(filenameFromDisposition(header)).toBe(name);
  });

  it('uses the last path segment only for non-pages', () => {
    expect(responseFilename('/dl/setup%20x.msi', 'application/x-msi', undefined)).toBe('setup x.msi');
    expect(responseFilename('/news/today', 'text/html', undefined)).toBe('');
    expect(responseFilename('/', 'image/png', undefined)).toBe('');
  });
});

describe('hop-by-hop headers', () => {
  it('removes the fixed set and whatever Connection names; keeps the rest; frames from the parser', () => {
    const raw = ['Connection', 'keep-alive, X-Secret, Host, Content-Length', 'X-Secret', '1', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Proxy-Authorization', 'Basic x', 'X-Kept', 'yes', 'Upgrade', 'h2c',
      'Host', 'client.example', 'Content-Length', '999', 'Transfer-Encoding', 'chunked', 'Expect', '100-continue'];
    expect(outgoingRequestHeaders(raw, 'origin.example', { contentLength: 5 })).toEqual(['host', 'origin.example', 'X-Kept', 'yes', 'content-length', '5']);
    // a chunked body keeps no length: the pool sends it chunked
    expect(outgoingRequestHeaders(['Transfer-Encoding', 'chunked'], 'h', { contentLength: null })).toEqual(['host', 'h']);
  });

  it("an origin's Connection header names what to drop, however it is spelled; the common values name nothing", () => {
    for (const v of [undefined, 'keep-alive', 'close', 'Keep-Alive', ' close ', 'keep-alive, close', ['keep-alive'], 'host, content-length']) {
      expect([...connectionTokens(v)], String(v)).toEqual([]);
    }
    expect([...connectionTokens('keep-alive, X-Internal')]).toEqual(['x-internal']);
    expect([...connectionTokens(['close', 'Set-Cookie2 ,, x-a'])]).toEqual(['set-cookie2', 'x-a']);
  });
});
