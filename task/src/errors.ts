import { ExitCode, ExitCodeValue } from './contract';
import type { LogFormat } from './log';

export { ExitCode } from './contract';
export type { ExitCodeValue } from './contract';

/** Where in a run a failure happened; logged as `stage`. */
export type Stage =
  | 'config'
  | 'connect'
  | 'version-check'
  | 'plan'
  | 'globals'
  | 'dump'
  | 'upload'
  | 'size-check'
  | 'manifest'
  | 'list'
  | 'download'
  | 'verify'
  | 'restore';

/**
 * A failure a person can act on: the message names the cause, `exitCode` classifies it and
 * `stage` says where it happened. The original error is kept as `cause`.
 */
export class TaskError extends Error {
  public readonly exitCode: ExitCodeValue;
  public readonly stage: Stage;

  constructor(message: string, options: { exitCode: ExitCodeValue; stage: Stage; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaskError';
    this.exitCode = options.exitCode;
    this.stage = options.stage;
  }
}

/** Configuration problems, all of them at once. Thrown before anything connects. */
export class ConfigError extends TaskError {
  public readonly problems: readonly string[];
  /**
   * The log format the configuration asks for (`--log-format`, else LOG_FORMAT), to report
   * these problems in; undefined when it was not resolved.
   */
  public readonly logFormat?: LogFormat;

  constructor(problems: readonly string[], logFormat?: LogFormat) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
      { exitCode: ExitCode.CONFIG, stage: 'config' },
    );
    this.name = 'ConfigError';
    this.problems = problems;
    this.logFormat = logFormat;
  }
}

/** The run was stopped by a signal. */
export class InterruptedError extends TaskError {
  constructor(signal: string, stage: Stage) {
    super(`Interrupted by ${signal}`, { exitCode: ExitCode.INTERRUPTED, stage });
    this.name = 'InterruptedError';
  }
}

/** A short, single-line description of any thrown value, for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const name = (err as { name?: string }).name;
    const code = (err as { Code?: string; code?: string }).Code ?? (err as { code?: string }).code;
    const base = err.message || name || 'Error';
    return code && !base.includes(String(code)) ? `${base} (${code})` : base;
  }
  return String(err);
}

/**
 * The error to report for `err` when `signal` may have caused it: a transfer or a child
 * stopped by SIGTERM fails with an abort or a broken pipe, which must read as an interruption
 * (exit 130), not as a storage or integrity failure.
 */
export function interruptedOr<T>(err: T, signal: AbortSignal | undefined, stage: Stage): T | InterruptedError {
  return signal?.aborted ? new InterruptedError(String(signal.reason), stage) : err;
}

/** Throws the interruption when `signal` has been aborted (between steps that do not watch it themselves). */
export function throwIfInterrupted(signal: AbortSignal, stage: Stage): void {
  if (signal.aborted) throw new InterruptedError(String(signal.reason), stage);
}

/**
 * The line of a failure's message that says what went wrong, for one-line reports (a summary
 * row, a ping, a chat message): PostgreSQL's programs end their error with `detail:` and
 * `hint:` lines (`Query was: LOCK TABLE …`), so the last line holding `error:`, `fatal:` or
 * `panic:` is taken when there is one; else the last non-empty line.
 */
export function causeLine(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.filter((l) => /\b(error|fatal|panic):/i.test(l)).at(-1) ?? lines.at(-1) ?? message;
}
