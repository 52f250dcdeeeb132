import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { PageTokens } from '../../core/identity/page-token.ts';
import {
  accidentFormPage, aupAcceptedPage, aupPage, blockPage, escapeHtml, exceptionFormPage, html, problemPage, requestSentPage,
  safeHref, signedInPage, signInPage, siteFromConfig, StaffPages, transparencyPage, warnPage, type Page,
} from '../../core/pages/index.ts';

const config = parseConfig(`
organisation: { name: "Hope & Care <Trust>", logoUrl: /logo.svg, policyUrl: "https://intranet.example/policy" }
retention: { eventsDays: 60, reportsDays: 365 }
policy:
  categoryLabels: { gambling: Gambling sites }
  rules:
    - { categories: [gambling], action: block, clause: "Gambling is never acceptable." }
    - { categories: [audio-video], bands: [working], action: warn, continueMinutes: 15, clause: "Streaming in working hours should be for work." }
aup: { version: "7", text: "First paragraph.\\n\\nSecond <b>paragraph</b>." }
`, 'test.yaml');
const site = siteFromConfig(config, 'http://127.0.0.1:8080');
const XSS = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
const tokens = new PageTokens(Buffer.alloc(32, 7));
const pages = new StaffPages(config, tokens, 'http://127.0.0.1:8080');
const ev = { eventId: '0b7e7c52-0000-4000-8000-000000000001', at: new Date('2026-11-23T10:15:00Z'), url: `http://evil.test/${XSS}`, host: 'evil.test', userPseudonym: 'abcd', group: 'staff' };

/** Structural checks every page must pass: no script, no inline style or handlers, style allowed by hash, transparency link. */
function checkPage(p: Page) {
  expect(p.html).not.toMatch(/<script/i);
  // attribute values are escaped text: take them out, then no tag may carry a handler or a style
  const tags = p.html.replace(/"[^"]*"/g, '""');
  expect(tags).not.toMatch(/<[a-z][^>]*\son[a-z]+=/i);
  expect(tags).not.toMatch(/<[a-z][^>]*\sstyle=/i);
  expect(p.html).toContain('http://127.0.0.1:8080/transparency');
  expect(p.html).toContain('Hope &amp; Care &lt;Trust&gt;');
  const css = /<style>([\s\S]*?)<\/style>/.exec(p.html)![1]!;
  expect(p.csp).toContain(`'sha256-${createHash('sha256').update(css).digest('base64')}'`);
  expect(p.csp).toMatch(/default-src 'none'/);
  expect(p.csp).not.toMatch(/unsafe-inline|script-src/);
  expect(p.html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
}

describe('staff page templates', () => {
  it('escape every echoed value', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&\``)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;');
    expect(html`<p>${XSS}</p>`.text).not.toContain('<script');
    expect(html`<p>${[XSS, html`<b>ok</b>`]}</p>`.text).toContain('<b>ok</b>');
    expect(safeHref('javascript:alert(1)')).toBe('#');
    expect(safeHref('data:text/html,<script>')).toBe('#');
    expect(safeHref('https://ok.example/a?b')).toBe('https://ok.example/a?b');
  });

  it('block page names category, clause, rule, reference, time and carries both token links', () => {
    const p = pages.block(ev, { category: 'gambling', rule: 'rule:1', reason: `Gambling ${XSS}` });
    checkPage(p);
    expect(p.status).toBe(403);
    expect(p.html).toContain('Gambling sites');
    expect(p.html).toContain('Gambling &quot;&gt;&lt;script&gt;');
    expect(p.html).toContain(ev.eventId);
    expect(p.html).toContain('rule 1 of the internet policy');
    expect(p.html).toContain('Monday, 23 November 2026 at 10:15:00'); // Europe/London = UTC in November
    expect(p.html).not.toContain('<script>alert');
    expect(p.html).not.toContain('<img src=x');
    const links = [...p.html.matchAll(/href="(http:\/\/127\.0\.0\.1:8080\/(?:request-exception|report-accident)\?t=[^"]+)"/g)].map((m) => m[1]!);
    expect(links).toHaveLength(2);
    const ex = tokens.verify(new URL(links[0]!.replace(/&amp;/g, '&')).searchParams.get('t')!, { purpose: 'exception', eventId: ev.eventId, pseudonym: 'abcd' });
    expect(ex).toMatchObject({ category: 'gambling', host: 'evil.test', rule: 'rule:1' });
    tokens.verify(new URL(links[1]!).searchParams.get('t')!, { purpose: 'accident', eventId: ev.eventId, pseudonym: 'abcd' });
    expect(p.html).toContain('I need this for my work');
    expect(p.html).toContain('I reached this by accident');
  });

  it('an unlabelled category is shown in words, not as a directory name', () => {
    const p = pages.block({ ...ev, url: 'http://x.test/' }, { category: 'social_networks', rule: 'local-deny', reason: 'x' });
    expect(p.html).toContain('Social networks');
    expect(p.html).toContain("the organisation&#39;s own list");
  });

  it('warning page links Continue to the console with a continue token and the return address', () => {
    const p = pages.warn({ ...ev, url: 'http://video.test/watch' }, { category: 'audio-video', rule: 'rule:2', reason: 'Streaming', continueMinutes: 15 });
    checkPage(p);
    const href = /href="(http:\/\/127\.0\.0\.1:8080\/continue\?[^"]+)"/.exec(p.html)![1]!.replace(/&amp;/g, '&');
    expect(p.html).toContain('next 15 minutes');
    expect(new URL(href).searchParams.get('return')).toBe('http://video.test/watch');
    const t = new URL(href).searchParams.get('t')!;
    expect(tokens.verify(t, { purpose: 'continue' })).toMatchObject({ minutes: 15, category: 'audio-video' });
    expect(() => tokens.verify(t, { purpose: 'exception' })).toThrow(/issued for "continue"/);
  });

  it('AUP page shows versioned text as paragraphs, escaped, with an accept form only with a token', () => {
    const read = aupPage({ site, version: '7', text: config.aup.text });
    checkPage(read);
    expect(read.html).toContain('Version 7');
    expect(read.html).toContain('<p>First paragraph.</p>');
    expect(read.html).toContain('Second &lt;b&gt;paragraph&lt;/b&gt;.');
    expect(read.html).not.toContain('I accept');
    const ask = aupPage({ site, version: '7', text: config.aup.text, token: 'tok', returnUrl: 'javascript:alert(1)' });
    expect(ask.html).toContain('I accept');
    expect(ask.html).toContain('name="return" value=""');
    checkPage(aupAcceptedPage(site, '7', 'http://ok.test/'));
    expect(aupAcceptedPage(site, '7', 'javascript:alert(1)').html).not.toContain('javascript:');
    const loc = pages.aupLocation({ ...ev, url: 'http://ok.test/a' });
    expect(loc).toMatch(/^http:\/\/127\.0\.0\.1:8080\/aup\?t=.+&return=http%3A%2F%2Fok\.test%2Fa$/);
  });

  it('sign-in, forms and confirmations escape what they echo', () => {
    for (const p of [
      signInPage({ site, hours: 8, error: XSS, username: XSS, returnUrl: XSS }),
      signedInPage(site, { username: XSS, until: new Date(), signOutToken: XSS }),
      exceptionFormPage({ site, token: XSS, eventId: XSS, host: XSS, categoryLabel: XSS, reason: XSS, error: XSS }),
      accidentFormPage({ site, token: XSS, eventId: XSS, host: XSS, categoryLabel: XSS, reason: `</textarea>${XSS}` }),
      requestSentPage(site, 'exception', XSS),
      problemPage(site, XSS, XSS),
      pages.aupRequired(ev),
      pages.signInRequired(ev, 'client'),
    ]) {
      checkPage(p);
      expect(p.html).not.toContain('<script>alert');
      expect(p.html).not.toContain('</textarea><');
    }
  });

  it('transparency page is built from the live config and holds no personal data', () => {
    const p = transparencyPage(site, config);
    checkPage(p);
    expect(p.html).toContain('<tr><th scope="row">Records of each visit</th><td>60 days, then deleted automatically</td></tr>');
    expect(p.html).toContain('1 year');
    expect(p.html).toContain('Gambling sites');
    expect(p.html).toContain('continuing allows them for 15 minutes');
    expect(p.html).toContain('not the rest of the address');
    expect(p.html).toContain('director');
    const four = transparencyPage(site, parseConfig('console: { fourEyes: true }\nretention: { storeQueryStrings: true }', 't.yaml'));
    expect(four.html).toContain('a second director or the data protection officer must approve');
    expect(four.html).toContain('the query string');
  });

  it('the logo comes from config and is the only image origin the CSP allows', () => {
    const p = pages.block(ev, { category: 'gambling', rule: 'rule:1', reason: 'x' });
    expect(p.html).toContain('<img src="http://127.0.0.1:8080/logo.svg" alt="">');
    expect(p.csp).toContain('img-src http://127.0.0.1:8080');
    expect(blockPage({ site: { ...site, logoUrl: undefined }, eventId: 'e', at: new Date(), url: 'http://a/', categoryLabel: 'c', rule: 'r', clause: 'c', links: { exception: '#', accident: '#' } }).csp).toContain("img-src 'none'");
    expect(warnPage).toBeTypeOf('function');
  });
});
