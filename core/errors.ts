// The one base of fairwatch's own errors. `code` names the failure for programs (FW_…), the message
// is for people; the CLI takes its exit status from `exitCode` and the console its HTTP status from
// `httpStatus` (a 500 when there is none), each in one place (cli/program.ts, dashboards/app.ts).

export interface FairwatchErrorOptions {
  /** the CLI's exit status: 2 for bad input the user can correct, else 1 */
  exitCode?: number;
  /** the console's answer; without one the error is an internal one (500, logged) */
  httpStatus?: number;
  cause?: unknown;
}

/** `C`: the codes a subclass may carry, so callers can switch on them. */
export class FairwatchError<C extends string = string> extends Error {
  readonly code: C;
  readonly exitCode: number;
  readonly httpStatus: number | undefined;

  constructor(code: C, message: string, opts: FairwatchErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.httpStatus = opts.httpStatus;
  }
}
