import { Command, CommanderError } from 'commander';
import { FairwatchError } from '../core/errors.ts';
import type { CommandContext } from './io.ts';
import { registerCommands } from './commands/index.ts';

// Builds the command tree for one invocation. The same tree runs in the CLI process and inside the
// running primary (control socket), so output and exit codes are the same either way.

/** A command body; commander passes its positional arguments, options and the command itself. */
export type Action = (...args: never[]) => Promise<number>;

export interface ProgramHandle {
  program: Command;
  /** wraps a command body so its exit code is recorded */
  act(fn: Action): (...args: unknown[]) => Promise<void>;
}

export async function runArgv(argv: string[], ctx: CommandContext): Promise<number> {
  let exitCode = 0;
  const program = new Command('fairwatch')
    .description('fairwatch: web-usage monitoring proxy and log analyser')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .showHelpAfterError('(run with --help for usage)');
  const handle: ProgramHandle = {
    program,
    act: (fn) => async (...args: unknown[]) => {
      exitCode = await (fn as (...a: unknown[]) => Promise<number>)(...args);
    },
  };
  registerCommands(handle, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors 2 (commander already printed the message)
      return e.exitCode === 0 ? 0 : 2;
    }
    // fairwatch's own errors (a CommandFailure, a ConfigError, …) carry their exit status
    if (e instanceof FairwatchError) {
      ctx.io.err(`fairwatch: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
  return exitCode;
}
