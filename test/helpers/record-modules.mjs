// Loaded with `node --import` (through NODE_OPTIONS): appends the URL of every file module the
// process loads to the file named by FAIRWATCH_TEST_MODULE_LOG, so a test can see what a command loaded.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.FAIRWATCH_TEST_MODULE_LOG;
if (out) {
  registerHooks({
    load(url, context, nextLoad) {
      if (url.startsWith('file:')) appendFileSync(out, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}
