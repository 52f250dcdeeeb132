import v8 from 'node:v8';

// `expressions` patterns run on every request, so a pattern like (a+)+$ must not be able to stall
// the proxy. V8's linear-time engine guarantees that but is many times slower on real UT1 patterns
// than the normal backtracking engine (bench/policy.ts compares them), so patterns run on
// the normal engine and V8 switches a regexp to the linear engine once it backtracks excessively.
// That switch only exists for patterns the linear engine can run, so a pattern it cannot
// (backreferences, lookaheads) is refused at load time with its file and line.
v8.setFlagsFromString('--enable-experimental-regexp-engine');
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

export type CompiledPattern = { ok: true; re: RegExp } | { ok: false; why: string };

/**
 * Literal letters lower-cased, escapes (\\S, \\W, \\B, …) kept: the linear engine has no `i` flag, so
 * case-insensitive matching is done by lower-casing both the pattern and the URL.
 */
export function lowerPattern(source: string): string {
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\' && i + 1 < source.length) {
      out += c + source[++i];
    } else {
      out += c.toLowerCase();
    }
  }
  return out;
}

/** squidGuard matches expressions case-insensitively against the URL without its scheme; pass a lower-case URL. */
export function compilePattern(raw: string): CompiledPattern {
  const source = lowerPattern(raw);
  try {
    new RegExp(source, 'l');
  } catch (e) {
    const msg = (e as Error).message;
    return { ok: false, why: /linear time/.test(msg) ? 'pattern refused: it cannot run in linear time (backreference or lookahead)' : `bad pattern: ${msg.replace(/^Invalid regular expression: /, '')}` };
  }
  return { ok: true, re: new RegExp(source) };
}
