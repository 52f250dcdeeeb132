import { spawnSync } from 'node:child_process';
import { LdapDirectory } from '../../core/identity/ldap-directory.ts';
import { ALL_KEYS, keyPresent } from '../../core/keys.ts';
import { collectMetrics } from '../../core/metrics-http.ts';
import { pipelineFacts, pipelineHealth } from '../../core/ops/pipeline-health.ts';
import { scanFacts, scanHealth } from '../../core/ops/scan-health.ts';
import { retentionReport } from '../../core/privacy/retention-report.ts';
import { connectRedis, managedRedisUrl, redactRedisUrl } from '../../core/storage/redis.ts';
import { UNTRUSTED_CA_KEY, untrustedCaDevices } from '../../core/tls/untrusted-ca.ts';
import { clamdInstalled } from '../../proxy/managed-clamd.ts';
import type { CommandContext } from '../io.ts';
import type { ProgramHandle } from '../program.ts';

export function registerDoctor({ program, act }: ProgramHandle, ctx: CommandContext): void {
  program.command('doctor')
    .description('check config, data directory, keys, ClickHouse and Redis; exits non-zero naming what is wrong')
    .action(act(async () => ctx.withPlatform({ store: true }, async (p) => {
      const problems: string[] = [];
      const line = (k: string, v: string) => ctx.io.out(`${(k + ':').padEnd(18)}${v}\n`);
      line('node', `${process.version} (${process.execPath})`);
      line('config', p.runtime.configPath ?? '(none: built-in defaults)');
      line('data dir', p.runtime.dataDir);
      line('blocklists', p.runtime.blocklistsDir);
      try {
        line('clickhouse', `${await p.store.version()} (${p.store.embedded ? 'embedded chdb' : `server ${p.runtime.clickhouseUrl}`})`);
      } catch (e) {
        problems.push(`ClickHouse does not answer: ${(e as Error).message}`);
        line('clickhouse', 'NOT REACHABLE');
      }
      // Redis: the running one (inside the primary, or REDIS_URL), else the installed binary.
      const url = p.redisUrl || p.runtime.redisUrl || managedRedisUrl(p.runtime.dataDir) || '';
      const r = url ? p.redis ?? connectRedis(url, p.log, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }) : null;
      try {
        if (r) {
          try {
            const info = await r.info('server');
            const v = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
            line('redis', `${v} (${p.runtime.redisUrl ? 'REDIS_URL' : 'managed redis-server'} at ${redactRedisUrl(url)})`);
            // devices that refused the organisation CA on an inspected tunnel (spliced since): IT installs it
            const lacking = await untrustedCaDevices(r, Date.now() - 7 * 86_400_000);
            line('CA missing on', lacking.length === 0 ? 'no device in the last 7 days' : `${lacking.length} device${lacking.length === 1 ? '' : 's'} in the last 7 days (pseudonyms in Redis ${UNTRUSTED_CA_KEY}; see docs/operators/inspection.md)`);
          } catch (e) {
            problems.push(`Redis at ${redactRedisUrl(url)} does not answer: ${(e as Error).message}`);
            line('redis', 'NOT REACHABLE');
          }
        } else {
          const v = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
          if (v.status === 0) line('redis', `${/v=(\S+)/.exec(v.stdout)?.[1] ?? '?'} (managed redis-server, started by \`fairwatch start\`)`);
          else {
            problems.push('redis-server is not installed: run `sudo apt-get install -y redis-server`, or set REDIS_URL');
            line('redis', 'MISSING');
          }
        }
        // the pipeline in words (inside the running primary: its supervision and its workers' counts too)
        const facts = await pipelineFacts({
          redis: r, dataDir: p.runtime.dataDir, spoolMaxMB: p.config.pipeline.spoolMaxMB,
          metricsText: await collectMetrics().catch(() => ''), managed: p.managedRedis,
        });
        for (const item of pipelineHealth(facts)) {
          if (item.level === 'unknown') continue; // counted in the running fairwatch only
          if (item.key === 'redis' && !r && !p.managedRedis) continue; // nothing running to ask
          line(item.label.toLowerCase(), item.value);
          if (item.level === 'bad' || (item.level === 'warn' && item.action)) problems.push(`${item.value}${item.action ? `: ${item.action}` : ''}`);
        }
      } finally {
        if (r && r !== p.redis) r.disconnect();
      }
      // virus scanning in the same words as the health page (inside the running primary: its clamd's supervision and the scans' outcomes too)
      const scan = await scanFacts({
        scan: p.config.scan, dataDir: p.runtime.dataDir, metricsText: await collectMetrics().catch(() => ''),
        supervisor: p.managedClamd, installed: clamdInstalled,
      });
      for (const item of scanHealth(scan)) {
        if (item.level === 'unknown' && item.key === 'scans') continue; // counted in the running fairwatch only
        line(item.label.toLowerCase(), item.value);
        if (item.level === 'bad' || (item.level === 'warn' && item.action)) problems.push(`${item.label}: ${item.value}${item.action ? `: ${item.action}` : ''}`);
      }
      for (const k of ALL_KEYS) {
        const st = keyPresent(p.runtime.dataDir, k, p.env);
        line(`key ${k}`, st.present ? `present (${st.source})` : `MISSING (${st.source})`);
        if (!st.present) problems.push(`key ${k} is missing at ${st.source}`);
        if (!st.modeOk) problems.push(`key file ${st.source} is readable by others: chmod 600 it`);
      }
      // identity.ldap: the service account binds and userBase can be read (what every proxy sign-in needs)
      const ldap = p.config.identity.ldap;
      if (ldap) {
        try {
          await new LdapDirectory(ldap).probe();
          line('directory', `${ldap.url} (service account bound, userBase readable)`);
        } catch (e) {
          line('directory', `NOT USABLE (${ldap.url})`);
          problems.push(`identity.ldap: ${(e as Error).message}`);
        }
      } else {
        line('directory', 'off (identity.ldap)');
      }
      const siem = p.config.siem.syslog;
      line('siem', siem ? `${siem.url} (RFC 5424; audit rows and security events)` : 'off (siem.syslog)');
      // what retention deletes, and what legal holds keep from it and why
      try {
        const ret = await retentionReport(p.store, p.config.retention);
        line('retention', ret.policy);
        line('legal holds', ret.held.length === 0 ? 'none open: nothing held past retention' : `${ret.held.length} open`);
        for (const h of ret.held) ctx.io.out(`${''.padEnd(18)}${h.text}\n`);
      } catch (e) {
        line('legal holds', `UNKNOWN (${(e as Error).message})`);
      }
      const users = await p.users.list();
      const directors = users.filter((u) => u.role === 'director' && !u.disabled).length;
      line('users', `${users.length} (${directors} active director${directors === 1 ? '' : 's'})`);
      if (directors === 0) problems.push('no active director: create one with `fairwatch users add --role director …` or the console setup link');
      if (problems.length) {
        for (const pr of problems) ctx.io.err(`problem: ${pr}\n`);
        return 1;
      }
      ctx.io.out('ok\n');
      return 0;
    })));
}
