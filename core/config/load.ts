import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { FairwatchError } from '../errors.ts';

/** A configuration problem; the message names the file, line and key. */
export class ConfigError extends FairwatchError {
  constructor(message: string, readonly problems: string[] = [message]) {
    super('FW_CONFIG', message, { exitCode: 2 });
  }
}

/** Where things live and which servers to use; from the environment (docs/architecture/contract.md, "Environment"). */
export interface Runtime {
  dataDir: string;
  configPath: string | null;
  blocklistsDir: string;
  clickhouseUrl: string | null;
  redisUrl: string | null;
}

export interface LoadedConfig {
  config: Config;
  runtime: Runtime;
}

export function runtimeFromEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Runtime {
  const explicit = env.FAIRWATCH_CONFIG;
  const fallback = resolve(cwd, 'fairwatch.yaml');
  return {
    dataDir: resolve(cwd, env.FAIRWATCH_DATA_DIR || 'data'),
    configPath: explicit ? resolve(cwd, explicit) : existsSync(fallback) ? fallback : null,
    blocklistsDir: resolve(cwd, env.FAIRWATCH_BLOCKLISTS || 'blocklists'),
    clickhouseUrl: env.CLICKHOUSE_URL || null,
    redisUrl: env.REDIS_URL || null,
  };
}

function portFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(`${name}=${raw}: expected a port number from 0 to 65535`);
  }
  return n;
}

/** Parses and validates YAML text; errors name `file:line: key: problem`. */
export function parseConfig(text: string, fileName = 'config', env: NodeJS.ProcessEnv = {}): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const line = e.linePos?.[0]?.line;
      return `${fileName}${line ? `:${line}` : ''}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
    });
    throw new ConfigError(problems.join('\n'), problems);
  }
  const raw = (doc.toJS() ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${fileName}:1: expected a mapping of sections (organisation:, proxy:, …)`);
  }
  // A section whose keys are all commented out parses as null: treat it as empty, not as an error.
  for (const [k, v] of Object.entries(raw)) if (v === null) delete raw[k];
  applyEnvOverrides(raw, env);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => describeIssue(issue, doc.contents, lineCounter, fileName));
    throw new ConfigError(problems.join('\n'), problems);
  }
  return parsed.data;
}

function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const section = (name: string): Record<string, unknown> => {
    const s = raw[name];
    if (s && typeof s === 'object' && !Array.isArray(s)) return s as Record<string, unknown>;
    const fresh: Record<string, unknown> = {};
    raw[name] = fresh;
    return fresh;
  };
  const proxyPort = portFromEnv(env, 'FAIRWATCH_PROXY_PORT');
  if (proxyPort !== undefined) section('proxy').port = proxyPort;
  const proxyTlsPort = portFromEnv(env, 'FAIRWATCH_PROXY_TLS_PORT');
  if (proxyTlsPort !== undefined) section('proxy').tlsPort = proxyTlsPort;
  const consolePort = portFromEnv(env, 'FAIRWATCH_CONSOLE_PORT');
  if (consolePort !== undefined) section('console').port = consolePort;
  // the directory's service password stays out of the file when it comes from the environment
  const ldapPassword = env.FAIRWATCH_LDAP_BIND_PASSWORD;
  const identity = raw.identity as Record<string, unknown> | undefined;
  const ldap = identity?.ldap as Record<string, unknown> | undefined;
  if (ldapPassword && ldap && typeof ldap === 'object' && !Array.isArray(ldap) && ldap.bindPassword === undefined) ldap.bindPassword = ldapPassword;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown, lc: LineCounter, fileName: string): string {
  const path = issue.path.map(String);
  // Unknown keys are reported on the parent object; name the key itself.
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const fullPath = keys.length === 1 ? [...path, keys[0]!] : path;
  // the deepest part of the path that exists in the file gives the line (a missing key: its parent)
  let line: number | undefined;
  for (let n = fullPath.length; n >= 0 && line === undefined; n--) line = lineOf(root, fullPath.slice(0, n), lc);
  const where = `${fileName}${line ? `:${line}` : ''}`;
  const key = fullPath.join('.') || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    return `${where}: ${keys.length === 1 ? key : `${path.join('.') || '(top level)'}: ${keys.join(', ')}`}: unknown key (check the spelling; see fairwatch.example.yaml)`;
  }
  const message = / received undefined$/.test(issue.message) ? `required key is missing (${issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')})` : issue.message;
  return `${where}: ${key}: ${message}`;
}

function lineOf(root: unknown, path: string[], lc: LineCounter): number | undefined {
  let node = root as Node | null | undefined;
  let keyNode: Node | undefined;
  if (path.length === 0) return undefined;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === part);
      if (!pair) return undefined;
      keyNode = pair.key as Node;
      node = pair.value as Node;
    } else if (isSeq(node)) {
      node = node.items[Number(part)] as Node;
      keyNode = node;
    } else {
      break;
    }
  }
  const range = (keyNode ?? node)?.range;
  return range ? lc.linePos(range[0]).line : undefined;
}

/** Loads the config named by the runtime (or defaults when there is no file). */
export function loadConfig(runtime: Runtime, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text = '';
  let fileName = '(defaults)';
  if (runtime.configPath) {
    fileName = runtime.configPath;
    try {
      text = readFileSync(runtime.configPath, 'utf8');
    } catch (e) {
      throw new ConfigError(`${runtime.configPath}: cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); set FAIRWATCH_CONFIG to a readable file`);
    }
  }
  return { config: parseConfig(text, fileName, env), runtime };
}
