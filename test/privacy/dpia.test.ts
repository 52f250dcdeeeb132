import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config/load.ts';
import { buildDpia } from '../../core/privacy/dpia.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

// The DPIA draft follows the ICO template's seven steps and reflects the configuration it is built
// from: changing retention, inspection scope, four-eyes or query strings changes the draft.

const dir = tempDir();
afterAll(() => dir.cleanup());
const runtime = { clickhouseUrl: null, redisUrl: null, configPath: 'fairwatch.yaml' };
const at = new Date('2026-05-01T00:00:00Z');

describe('DPIA draft', () => {
  it('has the ICO template steps and marks what the organisation must fill in', () => {
    const text = buildDpia({ config: parseConfig('', 't.yaml'), runtime, generatedAt: at });
    for (let s = 1; s <= 7; s++) expect(text).toMatch(new RegExp(`^## Step ${s}: `, 'm'));
    expect(text).toMatch(/TO COMPLETE by the organisation: .*lawful|Lawful basis: \*\*\[TO COMPLETE/);
    expect(text).toContain('| `events` | one row per request | 90 days');
    expect(text).toContain('categories `download`, `filehosting`');
    expect(text).toContain('the query string is **not** kept');
    expect(text).toContain('- Security monitoring (SIEM): none (`siem.syslog` unset).');
    expect(text).toContain('- **Nightly list update**: not configured');
    const withSiem = buildDpia({ config: parseConfig('siem:\n  syslog: { url: "tls://siem.example.org:6514" }\nblocklists:\n  update: { source: "https://lists.example.org/b.tar.gz" }\n', 't.yaml'), runtime, generatedAt: at });
    expect(withSiem).toMatch(/- Security monitoring \(SIEM\): audit-log rows and security events .* to `siem\.example\.org:6514` \(`siem\.syslog`, over TLS\)/);
    expect(withSiem).toContain('- **Nightly list update**: from `https://lists.example.org/b.tar.gz` (30 3 * * *), rolled back automatically');
  });

  it('reflects a changed configuration (file read by the real command)', async () => {
    const a = join(dir.dir, 'a.yaml');
    const b = join(dir.dir, 'b.yaml');
    writeFileSync(a, 'organisation:\n  name: Riverside Trust\n');
    writeFileSync(b, [
      'organisation:', '  name: Riverside Trust',
      'retention:', '  eventsDays: 30', '  storeQueryStrings: true',
      'console:', '  fourEyes: true',
      'policy:', '  inspect:', '    categories: [gambling]', '    hosts: [files.example.org]', '  neverInspect:', '    categories: [bank, religion]', '    healthList: false',
      '  rules:', '    - id: no-gambling', '      categories: [gambling]', '      action: block', '      clause: Gambling sites are not to be used at work.',
    ].join('\n') + '\n');
    const outA = join(dir.dir, 'a.md');
    const outB = join(dir.dir, 'b.md');
    const envOf = (cfg: string) => ({ FAIRWATCH_CONFIG: cfg, FAIRWATCH_DATA_DIR: join(dir.dir, 'data') });
    const ra = await runCli(['privacy', 'dpia', '--out', outA], { env: envOf(a) });
    const rb = await runCli(['privacy', 'dpia', '--out', outB], { env: envOf(b) });
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    expect(ra.stdout).toMatch(/DPIA draft written to .*a\.md \(\d+ lines; \d+ items for the organisation to complete\)/);
    const A = readFileSync(outA, 'utf8');
    const B = readFileSync(outB, 'utf8');
    expect(A).toContain('Organisation: Riverside Trust');
    expect(A).toContain('90 days (`retention.eventsDays`');
    expect(B).toContain('30 days (`retention.eventsDays`');
    expect(A).toContain('`console.fourEyes` is **off**');
    expect(B).toContain('an investigation needs a second director or the DPO');
    expect(A).toContain('the query string is **not** kept');
    expect(B).toContain('**query string** (`retention.storeQueryStrings` is on)');
    expect(B).toContain('categories `gambling` and hosts `files.example.org`');
    expect(B).toContain('categories `bank`, `religion`');
    expect(B).toContain('the shipped health-services list is **off**');
    expect(B).toContain('| no-gambling | * | gambling | working, break, out-of-hours | block | Gambling sites are not to be used at work. |');
    expect(A).toContain('no rules: everything gets the default action');
    // a bad config is named, not turned into a draft
    const broken = join(dir.dir, 'broken.yaml');
    writeFileSync(broken, 'retention:\n  eventsDayz: 3\n');
    const rc = await runCli(['privacy', 'dpia', '--out', join(dir.dir, 'c.md')], { env: envOf(broken) });
    expect(rc.code).toBe(2);
    expect(rc.stderr).toMatch(/eventsDayz/);
  }, 120_000);
});
