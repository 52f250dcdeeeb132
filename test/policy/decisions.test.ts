import { domainToASCII } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PolicySnapshot } from '../../core/policy/engine.ts';
import type { PersonState } from '../../core/policy/types.ts';
import { req, TEST_POLICY_YAML, testSnapshot } from './policy-config.ts';

// 2026-11-24 is a Tuesday; London is on GMT (UTC+0) in November.
const WORK = '2026-11-24T10:00:00Z';
const LUNCH = '2026-11-24T12:45:00Z';
const EVENING = '2026-11-24T19:00:00Z';

let engine: PolicySnapshot;
beforeAll(async () => { engine = await testSnapshot(); });

const noState: PersonState = { exceptions: [], continues: new Map(), quotaMinutesUsed: new Map() };

describe('decision table', () => {
  // group, URL, time → action, category, rule
  const table: Array<[string, string, string, string, string, string]> = [
    // every precedence step
    ['staff', 'http://local-banned.example/', WORK, 'block', 'local', 'local-deny'],
    ['staff', 'https://youtube.com/shorts/abc', EVENING, 'block', 'audio-video', 'local-deny'],
    ['staff', 'https://www.facebook.com/', WORK, 'allow', 'social_networks', 'local-allow'],
    ['staff', 'https://facebook.com/ourcharity/events', WORK, 'allow', 'social_networks', 'local-allow'],
    // urlMatching: squidguard (default): a URL entry is a string prefix, as squidGuard reads it
    ['staff', 'https://facebook.com/ourcharityshop', WORK, 'allow', 'social_networks', 'local-allow'],
    ['staff', 'https://m.facebook.com/', WORK, 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://www.unlisted-site.org/', WORK, 'allow', '', 'default'],
    // categories without a rule still report the category
    ['staff', 'https://www.facebook.com.evil.org/', WORK, 'allow', '', 'default'],
    // bands
    ['staff', 'https://facebook.com/', LUNCH, 'allow', 'social_networks', 'default'],
    ['staff', 'https://facebook.com/', EVENING, 'allow', 'social_networks', 'default'],
    ['staff', 'https://facebook.com/', '2026-11-24T16:59:59.999Z', 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://facebook.com/', '2026-11-24T17:00:00.000Z', 'allow', 'social_networks', 'default'],
    ['staff', 'https://facebook.com/', '2026-11-24T08:59:59.999Z', 'allow', 'social_networks', 'default'],
    ['staff', 'https://facebook.com/', '2026-11-24T09:00:00.000Z', 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://facebook.com/', '2026-11-24T12:30:00.000Z', 'allow', 'social_networks', 'default'],
    ['staff', 'https://facebook.com/', '2026-11-24T13:30:00.000Z', 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://facebook.com/', '2026-11-28T10:00:00Z', 'allow', 'social_networks', 'default'], // Saturday
    ['staff', 'https://facebook.com/', '2026-12-25T10:00:00Z', 'allow', 'social_networks', 'default'], // bank holiday
    ['staff', 'https://facebook.com/', '2026-12-24T10:00:00Z', 'block', 'social_networks', 'rule:social'],
    // DST: Monday after the March change London is UTC+1, so 09:00 local is 08:00Z
    ['staff', 'https://facebook.com/', '2026-03-30T07:59:59Z', 'allow', 'social_networks', 'default'],
    ['staff', 'https://facebook.com/', '2026-03-30T08:00:00Z', 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://facebook.com/', '2026-03-30T16:00:00Z', 'allow', 'social_networks', 'default'],
    // …and the Monday after the October change it is back to UTC+0
    ['staff', 'https://facebook.com/', '2026-10-26T08:30:00Z', 'allow', 'social_networks', 'default'],
    ['staff', 'https://facebook.com/', '2026-10-26T16:30:00Z', 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://facebook.com/', '2026-10-23T08:30:00Z', 'block', 'social_networks', 'rule:social'], // Friday before: BST
    // subdomain vs lookalike
    ['staff', 'https://sub.example.com/', WORK, 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://example.com/', WORK, 'block', 'social_networks', 'rule:social'],
    ['staff', 'https://evilexample.com/', WORK, 'allow', '', 'default'],
    ['staff', 'https://example.com.evil.net/', WORK, 'allow', '', 'default'],
    // messy list forms, seen from the request side
    ['staff', 'https://UPPERCASE-ADULT.com/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'https://www.trailing-dot-adult.com/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'https://a.b.leading-dot-adult.com/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'https://wildcard-adult.com/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'https://spaced-adult.com/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'https://inline-comment-adult.com/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'https://adult-with-port.com/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'https://bad_port.com/', WORK, 'allow', '', 'default'],
    // urls lists: host + path, a string prefix (policy.urlMatching: squidguard, the default)
    ['staff', 'http://example.org/adult-section/page1', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'http://example.org/adult-sectionx', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'http://www.example.org/adult-section', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'http://cdn.example.org/adult-section', WORK, 'allow', '', 'default'],
    ['staff', 'http://example.org/', WORK, 'allow', '', 'default'],
    ['staff', 'http://pictures.example.net/Gallery/1.jpg', WORK, 'block', 'adult', 'rule:never'],
    // IP literals
    ['staff', 'http://203.0.113.7/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'http://203.0.113.70/', WORK, 'allow', '', 'default'],
    ['staff', 'http://198.51.100.66:8080/x', WORK, 'block', 'malware', 'rule:never'],
    ['staff', 'http://[2001:db8::7]/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'http://[2001:db8:0:0:0:0:0:8]/', WORK, 'block', 'adult', 'rule:never'],
    ['staff', 'http://[2001:db8::9]/', WORK, 'allow', '', 'default'],
    // expressions (patterns)
    ['staff', 'https://translate.google.fr/translate?u=x', WORK, 'block', 'redirector', 'rule:never'],
    ['staff', 'https://www.unblockit.net/', WORK, 'block', 'redirector', 'rule:never'],
    // groups: first rule naming the group wins
    ['managers', 'https://miniclip.com/', WORK, 'log', 'games', 'rule:managers-games'],
    ['staff', 'https://miniclip.com/', WORK, 'block', 'games', 'rule:never'],
    ['volunteer-not-configured', 'https://miniclip.com/', WORK, 'block', 'games', 'rule:never'],
    ['it', 'https://espn.com/', WORK, 'allow', 'sports', 'default'],
    // a site in two categories: the strictest outcome (gambling block beats sports quota)
    ['staff', 'https://bet365.com/', WORK, 'block', 'gambling', 'rule:never'],
    // warn, quota, log
    ['staff', 'https://www.youtube.com/watch', WORK, 'warn', 'audio-video', 'rule:streaming'],
    ['staff', 'https://www.youtube.com/watch', LUNCH, 'allow', 'audio-video', 'default'],
    ['staff', 'https://espn.com/', WORK, 'quota', 'sports', 'rule:sport'],
    ['staff', 'https://www.bbc.co.uk/sport/football', WORK, 'quota', 'sports', 'rule:sport'],
    ['staff', 'https://www.bbc.co.uk/news', WORK, 'allow', '', 'default'],
    ['staff', 'https://mail.google.com/', EVENING, 'log', 'webmail', 'rule:6'],
    ['guests', 'https://www.amazon.co.uk/', WORK, 'log', 'shopping', 'rule:6'],
  ];

  it.each(table)('%s %s at %s → %s %s %s', (group, url, at, action, category, rule) => {
    const d = engine.decide(req(group, url, at));
    expect({ action: d.action, category: d.category, rule: d.rule }).toEqual({ action, category, rule });
    expect(d.reason.length).toBeGreaterThan(0);
  });

  it('policy.urlMatching: segment keeps whole path segments and covers subdomains', async () => {
    const seg = await testSnapshot(TEST_POLICY_YAML.replace('\npolicy:\n', '\npolicy:\n  urlMatching: segment\n'));
    const d = (url: string) => { const x = seg.decide(req('staff', url, WORK)); return [x.action, x.rule]; };
    expect(d('https://facebook.com/ourcharityshop')).toEqual(['block', 'rule:social']);
    expect(d('https://facebook.com/ourcharity/events')).toEqual(['allow', 'local-allow']);
    expect(d('http://example.org/adult-sectionx')).toEqual(['allow', 'default']);
    expect(d('http://example.org/adult-section/page1')).toEqual(['block', 'rule:never']);
    expect(d('http://cdn.example.org/adult-section')).toEqual(['block', 'rule:never']);
  });

  it('carries the clause of the rule that decided', () => {
    expect(engine.decide(req('staff', 'https://facebook.com/', WORK)).reason).toBe('Social media may be used only in breaks and outside working hours.');
    expect(engine.decide(req('staff', 'http://local-banned.example/', WORK)).reason).toBe('This site is blocked by the organisation.');
  });

  it('matches IDN hosts in either form, and unicode list entries', () => {
    const puny = domainToASCII('über-adult.de');
    expect(puny.startsWith('xn--')).toBe(true);
    for (const host of ['über-adult.de', puny, 'WWW.ÜBER-ADULT.DE', `${puny}.`]) {
      const d = engine.decide({ ...req('staff', 'https://x.invalid/', WORK), host });
      expect([host, d.action, d.category]).toEqual([host, 'block', 'adult']);
    }
  });

  it('tolerates host:port and a trailing dot from the caller', () => {
    for (const host of ['facebook.com:443', 'FACEBOOK.com.', '[2001:db8::7]:8080']) {
      expect(engine.decide({ ...req('staff', 'https://x.invalid/', WORK), host }).action).toBe('block');
    }
  });

  it('a rule naming an alias (porn → adult) applies to the aliased category', () => {
    expect(engine.decide(req('staff', 'https://example-adult.com/', WORK)).rule).toBe('rule:never');
  });
});

describe('per-person state', () => {
  const future = Date.parse(WORK) + 3600_000;
  it('exception beats rules and local allow, but not local deny', () => {
    const hostGrant: PersonState = { ...noState, exceptions: [{ id: 'e1', userPseudonym: '0123456789abcdef', host: 'facebook.com', expiresAt: future }] };
    expect(engine.decide(req('staff', 'https://m.facebook.com/', WORK, { state: hostGrant })).rule).toBe('exception:e1');
    expect(engine.decide(req('staff', 'https://www.facebook.com/', WORK, { state: hostGrant })).rule).toBe('exception:e1'); // over local allow
    const catGrant: PersonState = { ...noState, exceptions: [{ id: 'e2', userPseudonym: '0123456789abcdef', category: 'audio-video', expiresAt: future }] };
    const d = engine.decide(req('staff', 'https://youtube.com/watch', WORK, { state: catGrant }));
    expect([d.action, d.rule]).toEqual(['allow', 'exception:e2']);
    expect(engine.decide(req('staff', 'https://youtube.com/shorts/1', WORK, { state: catGrant })).rule).toBe('local-deny');
    // an exception for one category leaves others alone
    expect(engine.decide(req('staff', 'https://facebook.com/', WORK, { state: catGrant })).rule).toBe('rule:social');
  });

  it('an exception lapses at its expiry instant', () => {
    const state: PersonState = { ...noState, exceptions: [{ id: 'e3', userPseudonym: '0123456789abcdef', category: 'social_networks', expiresAt: Date.parse('2026-11-24T11:00:00Z') }] };
    expect(engine.decide(req('staff', 'https://facebook.com/', '2026-11-24T10:59:59.999Z', { state })).rule).toBe('exception:e3');
    expect(engine.decide(req('staff', 'https://facebook.com/', '2026-11-24T11:00:00.000Z', { state })).rule).toBe('rule:social');
  });

  it('warn: a recent "continue" allows the category until it runs out', () => {
    const until = Date.parse('2026-11-24T10:30:00Z');
    const state: PersonState = { ...noState, continues: new Map([['audio-video', until]]) };
    const d = engine.decide(req('staff', 'https://vimeo.com/1', '2026-11-24T10:29:00Z', { state }));
    expect([d.action, d.continued, d.rule]).toEqual(['allow', true, 'rule:streaming']);
    const later = engine.decide(req('staff', 'https://vimeo.com/1', '2026-11-24T10:30:00Z', { state }));
    expect([later.action, later.continueMinutes]).toEqual(['warn', 30]);
  });

  it('quota: blocks once the day\'s minutes are used', () => {
    const some: PersonState = { ...noState, quotaMinutesUsed: new Map([['sports', 29]]) };
    const d = engine.decide(req('staff', 'https://espn.com/', WORK, { state: some }));
    expect([d.action, d.quotaMinutesPerDay, d.quotaMinutesUsed]).toEqual(['quota', 30, 29]);
    const all: PersonState = { ...noState, quotaMinutesUsed: new Map([['sports', 30]]) };
    const b = engine.decide(req('staff', 'https://espn.com/', WORK, { state: all }));
    expect([b.action, b.quotaExhausted, b.rule]).toEqual(['block', true, 'rule:sport']);
    expect(b.reason).toMatch(/30 minutes are used up/);
  });
});

describe('compiling rules', () => {
  it('warns about rule groups and categories that do not exist', async () => {
    const e = await testSnapshot(`
policy:
  rules:
    - { groups: [nobody], categories: [no_such_category], action: block, clause: x }
`);
    expect(e.warnings.join('\n')).toMatch(/group "nobody" is not in policy.groups/);
    expect(e.warnings.join('\n')).toMatch(/category "no_such_category" is not in/);
  });
});
