import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { siteFromConfig, transparencyPage } from '../../core/pages/index.ts';

// The transparency page's Alerts section is generated from policy.alerts: what is watched, the
// thresholds, per-group differences, and who is told — by role and number, never an address.

const page = (yaml: string, listed: string[] | null = null) => {
  const cfg = parseConfig(yaml, 't.yaml');
  return transparencyPage(siteFromConfig(cfg, 'https://fw.example.org'), cfg, { listedCategories: listed ? new Set(listed) : null }).html;
};

describe('transparency: alerts', () => {
  it('defaults: the serious categories, both thresholds, seen by directors and the DPO, no mail', () => {
    const html = page('policy:\n  categoryLabels: { adult: Adult material, vpn: VPNs and anonymisers }\n');
    expect(html).toContain('<h2>Alerts</h2>');
    expect(html).toMatch(/reach 10 in one hour or 30 in one day/);
    expect(html).toContain('Adult material');
    expect(html).toContain('VPNs and anonymisers');
    expect(html).toContain('directors and the data protection officer see alerts');
    expect(html).toContain('No e-mail is sent about alerts.');
    expect(html).toContain('Alerts (pseudonym, category, counts)');
  });

  it('only categories present in the lists; per group settings; the number of addresses, not the addresses', () => {
    const yaml = `console:\n  smtp: { url: "smtp://127.0.0.1:25", from: fw@example.org, to: [d@example.org] }\npolicy:\n  alerts:\n    categories: [adult, stalkerware]\n    perDay: null\n    notify: [safe@example.org, lead@example.org]\n    groups:\n      guests: { perHour: 5 }\n      it: { enabled: false }\n`;
    const html = page(yaml, ['adult', 'gambling']);
    expect(html).toMatch(/attempts to reach Adult reach 10 in one hour \(/);
    expect(html).not.toContain('Stalkerware');
    expect(html).toContain('guests: Adult; 5 in one hour');
    expect(html).toContain('it: no alerts');
    expect(html).toContain('2 addresses the organisation designated');
    expect(html).not.toContain('safe@example.org');
    expect(html).not.toContain('lead@example.org');
  });

  it('off: says nobody is told', () => {
    expect(page('policy:\n  alerts: { enabled: false }\n')).toContain('No alerts are raised');
  });
});
