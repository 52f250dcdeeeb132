import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../core/config/load.ts';
import { PolicySnapshot } from '../../core/policy/engine.ts';
import { checkDownload } from '../../core/policy/file-rules.ts';
import { loadLists } from '../../core/policy/lists.ts';
import { req } from './policy-config.ts';

// The shipped default (fairwatch.example.yaml's policy section) against the shipped starter lists:
// the usual UK charity acceptable-use policy, as issue item 7 describes it.
let engine: PolicySnapshot;
beforeAll(async () => {
  const doc = parse(readFileSync('fairwatch.example.yaml', 'utf8')) as Record<string, unknown>;
  const config = parseConfig(stringify({ organisation: { timezone: 'Europe/London' }, policy: doc.policy }), 'fairwatch.example.yaml');
  engine = new PolicySnapshot(config.policy, config.organisation.timezone, await loadLists('blocklists'));
});

const WORK = '2026-11-24T10:00:00Z';
const LUNCH = '2026-11-24T12:45:00Z';
const EVENING = '2026-11-24T19:00:00Z';
/** The first entry of a list file, as a URL that entry matches. */
const firstEntry = (file: string) => readFileSync(file, 'utf8').split('\n').find((l) => l && !l.startsWith('#'))!.trim();

describe('the default UK charity policy with the starter lists', () => {
  it('every category a rule names exists in the starter set', () => {
    expect(engine.warnings).toEqual([]);
  });

  it.each([
    ['adult', 'blocklists/adult/urls'], ['gambling', 'blocklists/gambling/domains'], ['games', 'blocklists/games/domains'],
    ['warez', 'blocklists/warez/domains'], ['hacking', 'blocklists/hacking/domains'], ['vpn', 'blocklists/vpn/domains'],
    ['dating', 'blocklists/dating/domains'], ['drogue', 'blocklists/drogue/domains'], ['agressif', 'blocklists/agressif/domains'],
    ['redirector', 'blocklists/redirector/domains'],
  ])('%s is blocked for everyone at any time', (category, file) => {
    const entry = firstEntry(file);
    for (const [group, at] of [['staff', WORK], ['it', EVENING], ['guests', LUNCH]] as const) {
      const d = engine.decide(req(group, `https://${entry}`, at));
      expect([entry, d.action, d.rule, d.category]).toEqual([entry, 'block', 'rule:never', category]);
    }
  });

  it('social media: blocked in working hours, allowed in breaks and out of hours', () => {
    expect(engine.decide(req('staff', 'https://www.facebook.com/', WORK))).toMatchObject({ action: 'block', category: 'social_networks', rule: 'rule:social-media' });
    expect(engine.decide(req('staff', 'https://www.facebook.com/', LUNCH)).action).toBe('allow');
    expect(engine.decide(req('volunteers', 'https://www.linkedin.com/', EVENING)).action).toBe('allow');
  });

  it('audio-video: warn in working hours with a 30-minute continue', () => {
    expect(engine.decide(req('staff', 'https://www.youtube.com/watch', WORK))).toMatchObject({ action: 'warn', category: 'audio-video', continueMinutes: 30 });
    expect(engine.decide(req('staff', 'https://www.youtube.com/watch', EVENING)).action).toBe('allow');
  });

  it('webmail and shopping: logged', () => {
    expect(engine.decide(req('staff', 'https://mail.google.com/', WORK))).toMatchObject({ action: 'log', category: 'webmail' });
    expect(engine.decide(req('staff', 'https://www.amazon.co.uk/', LUNCH))).toMatchObject({ action: 'log', category: 'shopping' });
  });

  it('software downloads: blocked except for IT', () => {
    expect(checkDownload(engine.policy, 'staff', { path: '/setup.exe' })?.action).toBe('block');
    expect(checkDownload(engine.policy, 'it', { path: '/setup.exe' })).toBeNull();
  });

  it('everything else: allowed', () => {
    expect(engine.decide(req('staff', 'https://www.gov.uk/', WORK))).toMatchObject({ action: 'allow', rule: 'default' });
  });
});
