import { loadConfig, runtimeFromEnv } from '../core/config/load.ts';
import { Platform } from '../core/platform.ts';
import { currentHolder } from '../core/storage/datadir.ts';
import { sendControl } from './control.ts';
import { processIO, type CommandContext } from './io.ts';
import { runArgv } from './program.ts';

// The fairwatch command. A command that needs the store opens it here, unless a running fairwatch
// owns the data directory; then the whole command line is carried out by that process.

const argv = process.argv.slice(2);
const io = processIO();

const ctx: CommandContext = {
  io,
  insidePrimary: false,
  async withPlatform(needs, fn) {
    const runtime = runtimeFromEnv();
    const holder = currentHolder(runtime.dataDir);
    const needsOwner = Platform.needsLock(runtime, needs);
    if (holder && needsOwner) {
      if (!holder.controlSocket) {
        io.err(`fairwatch: data directory ${runtime.dataDir} is in use by process ${holder.pid} (fairwatch ${holder.role}), which does not take commands; stop it first\n`);
        return 1;
      }
      const stdin = argv.includes('--password-stdin') || argv.includes('-') ? await io.readStdin() : '';
      const res = await sendControl(holder.controlSocket, { argv, stdin });
      io.out(res.stdout);
      io.err(res.stderr);
      return res.exitCode;
    }
    const p = await Platform.open({ role: 'cli', loaded: loadConfig(runtime), ...needs });
    try {
      return await fn(p);
    } finally {
      await p.close();
    }
  },
};

try {
  process.exitCode = await runArgv(argv, ctx);
} catch (e) {
  io.err(`fairwatch: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
}
// Pools and timers of libraries must not keep a finished command alive.
setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
