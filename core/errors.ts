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

export class FairwatchError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly httpStatus: number | undefined;

  constructor(code: string, message: string, opts: FairwatchErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.httpStatus = opts.httpStatus;
  }
}
