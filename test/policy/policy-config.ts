import { parseConfig } from '../../core/config/load.ts';
import { PolicySnapshot } from '../../core/policy/engine.ts';
import { loadLists } from '../../core/policy/lists.ts';
import type { DecisionInput } from '../../core/policy/types.ts';

// The policy the decision tests run against: the shipped default's shape plus a group exception,
// a quota and a rule naming an alias (porn → adult).
export const TEST_POLICY_YAML = `
organisation: { timezone: Europe/London }
policy:
  groups:
    staff: {}
    managers: {}
    guests: {}
    it: { permissions: [software-download] }
  time:
    workingDays: [1, 2, 3, 4, 5]
    workingHours: { start: "09:00", end: "17:00" }
    breaks: [{ start: "12:30", end: "13:30" }]
    bankHolidays: ["2026-12-25"]
  rules:
    - id: managers-games
      groups: [managers]
      categories: [games]
      action: log
      clause: "Managers may use games sites for team events."
    - id: never
      categories: [porn, gambling, games, malware, phishing, vpn, redirector]
      action: block
      clause: "Pornographic, gambling, games, malicious and circumvention sites are never acceptable."
    - id: social
      categories: [social_networks]
      bands: [working]
      action: block
      clause: "Social media may be used only in breaks and outside working hours."
    - id: streaming
      categories: [audio-video]
      bands: [working]
      action: warn
      continueMinutes: 30
      clause: "Streaming in working hours should be for work."
    - id: sport
      groups: [staff]
      categories: [sports]
      bands: [working]
      action: quota
      quotaMinutesPerDay: 30
      clause: "Sports news: up to 30 minutes a working day."
    - categories: [webmail, shopping]
      action: log
      clause: "Some personal use is fine in breaks and outside working hours."
  defaultAction: allow
`;

export const FIXTURE_LISTS = 'test/fixtures/blocklists';

export async function testSnapshot(yaml = TEST_POLICY_YAML): Promise<PolicySnapshot> {
  const config = parseConfig(yaml, 'test.yaml');
  return new PolicySnapshot(config.policy, config.organisation.timezone, await loadLists(FIXTURE_LISTS));
}

/** A GET of `url` by a member of `group` at ISO time `at`. */
export function req(group: string, url: string, at: string, extra: Partial<DecisionInput> = {}): DecisionInput {
  const u = new URL(url);
  return {
    user: 'someone', group, method: 'GET', scheme: u.protocol === 'https:' ? 'https' : 'http',
    host: u.hostname, port: Number(u.port) || 443, path: u.pathname, query: u.search.slice(1), at: new Date(at), ...extra,
  };
}
