/**
 * Calls `get` until `ok` holds of its value or `timeoutMs` has passed, `everyMs` apart; returns the
 * last value either way, so the caller's assertion says what was wrong.
 */
export async function pollUntil<T>(get: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await get();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, everyMs));
    v = await get();
  }
  return v;
}
