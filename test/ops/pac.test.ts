import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { proxyTlsNames } from '../../core/proxy-address.ts';
import { PAC_CONTENT_TYPE, pacOptionsFromConfig, renderPac, type PacOptions } from '../../dashboards/pac.ts';
import { openConsole } from '../console/harness.ts';

// The PAC helpers browsers provide (as in Mozilla's pac_utils.js), restricted to what needs no DNS:
// the generated file must never make the browser resolve a name.
function ip4(s: string): number {
  return s.split('.').reduce((a, o) => ((a << 8) >>> 0) + Number(o), 0) >>> 0;
}
const helpers = {
  isPlainHostName: (h: string) => !h.includes('.'),
  dnsDomainIs: (h: string, d: string) => h.length >= d.length && h.endsWith(d),
  isInNet: (h: string, pat: string, mask: string) => {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(h)) throw new Error(`isInNet called with a name (${h}): the browser would resolve it`);
    return ((ip4(h) & ip4(mask)) >>> 0) === ((ip4(pat) & ip4(mask)) >>> 0);
  },
  dnsResolve: (h: string) => { throw new Error(`dnsResolve(${h}) must not be used`); },
  isResolvable: (h: string) => { throw new Error(`isResolvable(${h}) must not be used`); },
};

function findProxy(pac: string, url: string): string {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const sandbox: Record<string, unknown> = { ...helpers };
  runInNewContext(`${pac}\n;__r = FindProxyForURL(${JSON.stringify(url)}, ${JSON.stringify(host)});`, sandbox, { timeout: 1000 });
  return sandbox.__r as string;
}

const base: PacOptions = { proxies: ['proxy.example.org:3128'], bypass: [], spread: true, directFallback: false };

describe('PAC / WPAD generator', () => {
  it('one proxy, no bypass: everything with a dot goes through it, plain names and loopback direct', () => {
    const pac = renderPac(base);
    expect(findProxy(pac, 'http://www.bbc.co.uk/news')).toBe('PROXY proxy.example.org:3128');
    expect(findProxy(pac, 'https://8.8.8.8/')).toBe('PROXY proxy.example.org:3128');
    expect(findProxy(pac, 'http://intranet/')).toBe('DIRECT');
    expect(findProxy(pac, 'http://localhost:8080/')).toBe('DIRECT');
    expect(findProxy(pac, 'http://127.0.0.1:8080/')).toBe('DIRECT');
    expect(pac).not.toMatch(/dnsResolve|isResolvable|myIpAddress/);
  });

  it('bypass list: exact hosts, *.domain patterns, IPv4 CIDRs (IP literals only)', () => {
    const pac = renderPac({ ...base, bypass: ['files.corp.example.org', '*.local.example.org', '192.168.0.0/16', '10.1.2.3'] });
    expect(findProxy(pac, 'http://files.corp.example.org/x')).toBe('DIRECT');
    expect(findProxy(pac, 'http://other.corp.example.org/x')).toBe('PROXY proxy.example.org:3128');
    expect(findProxy(pac, 'http://a.b.local.example.org/')).toBe('DIRECT');
    expect(findProxy(pac, 'http://local.example.org/')).toBe('DIRECT');
    expect(findProxy(pac, 'http://notlocal.example.org/')).toBe('PROXY proxy.example.org:3128');
    expect(findProxy(pac, 'http://evillocal.example.org.attacker.com/')).toBe('PROXY proxy.example.org:3128');
    expect(findProxy(pac, 'http://192.168.4.20/')).toBe('DIRECT');
    expect(findProxy(pac, 'http://10.1.2.3/')).toBe('DIRECT');
    expect(findProxy(pac, 'http://10.1.2.4/')).toBe('PROXY proxy.example.org:3128');
    expect(findProxy(pac, 'http://FILES.Corp.Example.org/')).toBe('DIRECT');
  });

  it('two proxies: sites are spread between them, each keeps the other as fallback, same site same proxy', () => {
    const pac = renderPac({ ...base, proxies: ['p1.example.org:3128', 'p2.example.org:3128'] });
    const answers = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const a = findProxy(pac, `https://site${i}.example.com/`);
      expect(a.split('; ').sort()).toEqual(['PROXY p1.example.org:3128', 'PROXY p2.example.org:3128']);
      expect(findProxy(pac, `https://site${i}.example.com/other`)).toBe(a);
      answers.add(a);
    }
    expect(answers.size).toBe(2);
    const ordered = renderPac({ ...base, proxies: ['p1.example.org:3128', 'p2.example.org:3128'], spread: false });
    expect(findProxy(ordered, 'https://site1.example.com/')).toBe('PROXY p1.example.org:3128; PROXY p2.example.org:3128');
  });

  it('direct fallback only when configured', () => {
    expect(findProxy(renderPac(base), 'http://a.example.com/')).not.toMatch(/DIRECT/);
    expect(findProxy(renderPac({ ...base, directFallback: true }), 'http://a.example.com/')).toBe('PROXY proxy.example.org:3128; DIRECT');
  });

  it('derives proxies from config and always lets the console through', () => {
    const cfg = parseConfig('proxy:\n  bind: 0.0.0.0\n  port: 3130\nconsole:\n  publicUrl: https://fairwatch.example.org\n');
    const opts = pacOptionsFromConfig(cfg);
    expect(opts.proxies).toEqual(['fairwatch.example.org:3130']);
    const pac = renderPac(opts);
    expect(findProxy(pac, 'https://fairwatch.example.org/aup')).toBe('DIRECT');
    expect(findProxy(pac, 'https://example.com/')).toBe('PROXY fairwatch.example.org:3130');
    const explicit = parseConfig('pac:\n  proxies: [10.0.0.5:3128, 10.0.0.6:3128]\n  bypass: ["*.corp.example.org"]\n  spread: false\n');
    expect(findProxy(renderPac(pacOptionsFromConfig(explicit)), 'http://x.example.com/')).toBe('PROXY 10.0.0.5:3128; PROXY 10.0.0.6:3128');
    expect(pacOptionsFromConfig(parseConfig('')).proxies).toEqual(['127.0.0.1:3128']);
  });

  it('proxy.tlsPort: each proxy is offered as HTTPS on that port first, the plain port after; the names match the TLS certificate', () => {
    const cfg = parseConfig('proxy:\n  bind: 0.0.0.0\n  port: 3128\n  tlsPort: 3129\nconsole:\n  publicUrl: https://fairwatch.example.org\n');
    const pac = renderPac(pacOptionsFromConfig(cfg));
    expect(findProxy(pac, 'https://example.com/')).toBe('HTTPS fairwatch.example.org:3129; PROXY fairwatch.example.org:3128');
    expect(findProxy(pac, 'http://example.com/')).toBe('HTTPS fairwatch.example.org:3129; PROXY fairwatch.example.org:3128');
    expect(findProxy(pac, 'https://fairwatch.example.org/aup')).toBe('DIRECT');
    // the certificate is minted for the names the PAC file uses (proxy.tlsNames unset)
    expect(proxyTlsNames(cfg)).toEqual(['fairwatch.example.org']);
    // several proxies, spread: every HTTPS entry before any plain one, each list rotated alike
    const two = parseConfig('proxy:\n  tlsPort: 3129\npac:\n  proxies: [p1.example.org:3128, "[fd00::2]:3128"]\n');
    const answer = findProxy(renderPac(pacOptionsFromConfig(two)), 'http://a.example.com/');
    expect(answer.split('; ').map((x) => x.split(' ')[0])).toEqual(['HTTPS', 'HTTPS', 'PROXY', 'PROXY']);
    expect(answer.split('; ').sort()).toEqual(['HTTPS [fd00::2]:3129', 'HTTPS p1.example.org:3129', 'PROXY [fd00::2]:3128', 'PROXY p1.example.org:3128']);
    expect(answer.split('; ')[0]!.split(' ')[1]!.replace(':3129', '')).toBe(answer.split('; ')[2]!.split(' ')[1]!.replace(':3128', ''));
    expect(proxyTlsNames(two)).toEqual(['p1.example.org', 'fd00::2']);
    expect(proxyTlsNames(parseConfig('proxy:\n  tlsNames: [proxy.corp.example, 192.168.1.5]\n'))).toEqual(['proxy.corp.example', '192.168.1.5']);
    // without tlsPort nothing changes
    expect(findProxy(renderPac(pacOptionsFromConfig(parseConfig(''))), 'http://a.example.com/')).toBe('PROXY 127.0.0.1:3128');
  });

  it('bad entries are named', () => {
    expect(() => renderPac({ ...base, bypass: ['not a host!'] })).toThrow(/pac\.bypass: "not a host!"/);
    expect(() => renderPac({ ...base, proxies: [] })).toThrow(/pac\.proxies: at least one/);
    expect(() => renderPac({ ...base, proxies: ['p1:99999'] })).toThrow(/pac\.proxies: "p1:99999" is not host:port/);
    expect(() => parseConfig('pac:\n  proxies: [nope]\n', 'f.yaml')).toThrow(/f\.yaml:2: pac\.proxies\.0: expected host:port/);
  });

  it('the console serves /proxy.pac and /wpad.dat with the PAC content type, to anyone', async () => {
    const h = await openConsole('pac:\n  proxies: [proxy.example.org:3128]\n');
    try {
      for (const path of ['/proxy.pac', '/wpad.dat']) {
        const res = await h.request('GET', path);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe(PAC_CONTENT_TYPE);
        expect(findProxy(res.text, 'http://example.com/')).toBe('PROXY proxy.example.org:3128');
      }
    } finally {
      await h.cleanup();
    }
  });
});
