import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../core/config/load.ts';

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(yaml, 'f.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('fills every default from an empty file', () => {
    const c = parseConfig('', 'f.yaml');
    expect(c.organisation.timezone).toBe('Europe/London');
    expect(c.proxy.port).toBe(3128);
    expect(c.proxy.clientNetworks).toEqual(['127.0.0.0/8']);
    expect(c.proxy.connectPorts).toEqual([443]);
    expect(c.retention.eventsDays).toBe(90);
    expect(c.policy.time.workingHours).toEqual({ start: '09:00', end: '17:00' });
  });

  it('the shipped example parses and encodes the charity policy', () => {
    const c = parseConfig(readFileSync('fairwatch.example.yaml', 'utf8'), 'fairwatch.example.yaml');
    expect(c.organisation.timezone).toBe('Europe/London');
    expect(c.policy.time.breaks).toEqual([{ start: '12:30', end: '13:30' }]);
    expect(Object.keys(c.policy.groups)).toEqual(expect.arrayContaining(['staff', 'volunteers', 'managers', 'guests']));
    expect(c.retention.eventsDays).toBe(90);
  });

  it.each([
    ['unknown key names the key and line', 'proxy:\n  port: 3128\n  prot: 1\n', /f\.yaml:3: proxy\.prot: unknown key/],
    ['unknown section', 'organisaton:\n  name: x\n', /f\.yaml:1: organisaton: unknown key/],
    ['wrong type', 'proxy:\n  port: "abc"\n', /f\.yaml:2: proxy\.port: .*number/i],
    ['port out of range', 'proxy:\n  port: 70000\n', /f\.yaml:2: proxy\.port: .*65535/],
    ['bad CIDR in a list', 'proxy:\n  clientNetworks:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n', /f\.yaml:4: proxy\.clientNetworks\.1: expected a CIDR/],
    ['bad time zone', 'organisation:\n  timezone: Mars/Olympus\n', /f\.yaml:2: organisation\.timezone: expected an IANA time zone/],
    ['bad working hours', 'policy:\n  time:\n    workingHours: { start: "9am", end: "17:00" }\n', /policy\.time\.workingHours\.start: expected a time as HH:MM/],
    ['rule without clause', 'policy:\n  rules:\n    - categories: [adult]\n      action: block\n', /f\.yaml:3: policy\.rules\.0\.clause/],
    ['bad action', 'policy:\n  rules:\n    - categories: [adult]\n      action: nuke\n      clause: x\n', /policy\.rules\.0\.action/],
    ['YAML syntax error', 'proxy:\n  port: [1,\n', /f\.yaml:\d+: /],
    ['duplicate key', 'proxy:\n  port: 1\n  port: 2\n', /f\.yaml:3: .*unique/i],
    ['bad ipUsers key', 'identity:\n  ipUsers:\n    not-an-ip: alice\n', /identity\.ipUsers\.not-an-ip/],
  ])('%s', (_name, yaml, pattern) => {
    const p = problems(yaml);
    expect(p.join('\n')).toMatch(pattern);
  });

  it('policy.urlMatching defaults to squidguard and names a bad value', () => {
    expect(parseConfig('', 'f.yaml').policy.urlMatching).toBe('squidguard');
    expect(parseConfig('policy: { urlMatching: segment }', 'f.yaml').policy.urlMatching).toBe('segment');
    expect(problems('policy:\n  urlMatching: prefix\n').join('\n')).toMatch(/f\.yaml:2: policy\.urlMatching: .*"squidguard"\|"segment"/);
  });

  it('a section with every key commented out counts as empty', () => {
    expect(parseConfig('proxy:\n  # port: 1\n', 'f.yaml').proxy.port).toBe(3128);
  });

  it('environment overrides ports and names a bad value', () => {
    expect(parseConfig('', 'f.yaml', { FAIRWATCH_PROXY_PORT: '4128', FAIRWATCH_CONSOLE_PORT: '9090' }).proxy.port).toBe(4128);
    expect(problems('', { FAIRWATCH_PROXY_PORT: 'x' }).join()).toMatch(/FAIRWATCH_PROXY_PORT=x: expected a port/);
    expect(parseConfig('', 'f.yaml', { FAIRWATCH_PROXY_TLS_PORT: '3129' }).proxy.tlsPort).toBe(3129);
    expect(parseConfig('', 'f.yaml', {}).proxy.tlsPort).toBeUndefined();
    expect(problems('', { FAIRWATCH_PROXY_TLS_PORT: 'https' }).join()).toMatch(/FAIRWATCH_PROXY_TLS_PORT=https: expected a port/);
  });
});
