import { ensureBuilt } from '../../scripts/build-state.mjs';

// Tests that start `fairwatch` or its workers run the compiled build (as production does), so it
// must match the sources, also when one test file is run with `npx vitest run FILE`.
export default function setup(): void {
  const error = ensureBuilt();
  if (error) throw new Error(`fairwatch build: ${error}`);
}
