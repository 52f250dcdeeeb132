import { describe, expect, it } from 'vitest';
import { compileUrlRule, decodePercent, matchesSegment, matchesSquidGuard, urlKey, wwwPrefixLength } from '../../core/policy/url-rules.ts';

// The two URL-entry rules of policy.urlMatching, entry by entry. squidGuard's own answers for the
// UT1 lists are checked in squidguard-diff.test.ts; this is the rule table docs/operators/policy.md states.
const cases: Array<[entry: string, path: string, query: string, squidguard: boolean, segment: boolean]> = [
  ['bo', '/bo', '', true, true],
  ['bo', '/box', '', true, false],
  ['bo', '/bo/x', '', true, true],
  ['bo', '/b', '', false, false],
  ['gambling/', '/gambling/', '', true, true],
  ['gambling/', '/gambling', '', false, true],
  ['gambling/', '/gambling/x', '', true, true],
  ['gambling', '/gambling/', '', true, true],
  ['forumdisplay.php?f=13', '/forumdisplay.php', 'f=13', true, true],
  ['forumdisplay.php?f=13', '/forumdisplay.php', 'f=13&page=2', true, true],
  ['forumdisplay.php?f=13', '/forumdisplay.php', 'f=130', true, false],
  ['forumdisplay.php?f=13', '/forumdisplay.php', 'x=1&f=13', false, false],
  ['forumdisplay.php?f=13', '/forumdisplay.php', '', false, false],
  ['Forum.php?F=13', '/FORUM.PHP', 'f=13', true, true],
  ['jogos%20de%20a%c3%a7%c3%a3o', '/Jogos%20de%20A%C3%A7%C3%A3o', '', true, true],
  ['jogos de ação', '/Jogos%20de%20A%C3%A7%C3%A3o', '', true, true],
  ['ygg', '/%79gg', '', true, true],
  ['', '/anything', 'q=1', true, true],
];

describe('URL entries under both policy.urlMatching rules', () => {
  it.each(cases)('entry %j, request %s?%s → squidguard %s, segment %s', (entry, path, query, squidguard, segment) => {
    const rule = compileUrlRule(entry, 2);
    const key = urlKey(path, query);
    expect(matchesSquidGuard(rule, key)).toBe(squidguard);
    expect(matchesSegment(rule, key)).toBe(segment);
  });

  it('ignores a www./web./ftp. label (with digits) as squidGuard does, nothing else', () => {
    expect(['www.x.com', 'www2.x.com', 'web.x.com', 'ftp.x.com', 'wwwx.com', 'www.com', 'x.www.com', 'www'].map(wwwPrefixLength)).toEqual([4, 5, 4, 4, 0, 4, 0, 0]);
  });

  it('decodes escapes byte by byte and never throws on bad ones', () => {
    expect(decodePercent('a%2fb%zz%')).toBe('a/b%zz%');
    expect(decodePercent('%41b')).toBe('ab');
    expect(decodePercent('ação')).toBe(decodePercent('a%c3%a7%c3%a3o'));
  });
});
