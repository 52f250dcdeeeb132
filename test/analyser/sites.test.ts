import { describe, expect, it } from 'vitest';
import { localDays, topSites } from '../../analyser/reports/audit.ts';
import { registrableDomain } from '../../core/net/registrable-domain.ts';

describe('registrable domain', () => {
  it('keeps the last two labels, three under a listed multi-label suffix; addresses and single labels as they are', () => {
    expect(registrableDomain('www.bbc.co.uk')).toBe('bbc.co.uk');
    expect(registrableDomain('News.BBC.co.uk.')).toBe('bbc.co.uk');
    expect(registrableDomain('bbc.co.uk')).toBe('bbc.co.uk');
    expect(registrableDomain('www.nhs.uk')).toBe('www.nhs.uk'); // nhs.uk is a suffix: www.nhs.uk is the site
    expect(registrableDomain('service.gov.uk')).toBe('service.gov.uk');
    expect(registrableDomain('www.abc.net.au')).toBe('abc.net.au');
    expect(registrableDomain('m.facebook.com')).toBe('facebook.com');
    expect(registrableDomain('a.b.c.example.org')).toBe('example.org');
    expect(registrableDomain('someone.github.io')).toBe('someone.github.io');
    expect(registrableDomain('192.168.0.10')).toBe('192.168.0.10');
    expect(registrableDomain('[2001:db8::1]')).toBe('[2001:db8::1]');
    expect(registrableDomain('localhost')).toBe('localhost');
  });
});

describe('top sites', () => {
  it('sums host rows per category and site, busiest first, the limit per category', () => {
    const row = (category: string, host: string, requests: number, blocked = 0) => ({ category, host, requests, blocked, bytes_down: requests * 1000 });
    const sites = topSites([
      row('news', 'www.bbc.co.uk', 5), row('news', 'news.bbc.co.uk', 4, 1), row('news', 'ichef.bbci.co.uk', 3),
      row('news', 'www.theguardian.com', 6), row('news', 'a.example.net', 1), row('social', 'm.facebook.com', 2, 2), row('social', 'www.facebook.com', 1, 1),
    ], 2);
    expect(sites).toEqual([
      { category: 'news', domain: 'bbc.co.uk', hosts: 2, requests: 9, blocked: 1, bytes_down: 9000 },
      { category: 'news', domain: 'theguardian.com', hosts: 1, requests: 6, blocked: 0, bytes_down: 6000 },
      { category: 'social', domain: 'facebook.com', hosts: 2, requests: 3, blocked: 3, bytes_down: 3000 },
    ]);
  });

  it('lists each local day of a period once, across a summer-time change', () => {
    // clocks go forward on 29 March: the last UTC hour, 30 March 23:00, is already 31 March in London
    expect(localDays(Date.parse('2026-03-28T00:00:00Z'), Date.parse('2026-03-31T00:00:00Z'), 'Europe/London')).toEqual(['2026-03-28', '2026-03-29', '2026-03-30', '2026-03-31']);
    // London days in summer: 23:00 UTC to 23:00 UTC
    expect(localDays(Date.parse('2026-06-29T23:00:00Z'), Date.parse('2026-07-01T23:00:00Z'), 'Europe/London')).toEqual(['2026-06-30', '2026-07-01']);
  });
});
