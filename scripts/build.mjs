#!/usr/bin/env node
// `npm run build`: compiles the TypeScript sources into dist/ (what every fairwatch process runs).
import { build } from './build-state.mjs';

const error = build();
if (error) {
  process.stderr.write(`fairwatch: ${error}\n`);
  process.exit(1);
}
