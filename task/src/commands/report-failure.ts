import { describeError, ExitCode, interruptedOr, Stage, TaskError } from '../errors';
import { LogFields, Logger, MetricValue } from '../log';

/** How a command reports its own failure. */
export interface FailureReport {
  readonly log: Logger;
  /** The log event, e.g. `backup.failed`. */
  readonly event: string;
  /** The subject of the message: "<what> failed during <stage>: <cause>". */
  readonly what: string;
  /** The stage of an error that is not a {@link TaskError} (a bug): it exits 1. */
  readonly stage: Stage;
  /** When it is aborted, whatever failed on the way (a killed child, an aborted transfer) reads as the interruption. */
  readonly signal?: AbortSignal;
  /** Logged before stage, cause and exit code. */
  readonly fields?: LogFields;
  readonly metrics?: { readonly namespace: string; readonly dimensions: Record<string, string>; readonly values: readonly MetricValue[] };
}

/**
 * The one way every command ends in failure: turn what was caught into a {@link TaskError}
 * (exit code and stage), log it once with its cause, emit the failure metrics, and return it
 * for the caller to throw (cli.ts then exits with its code without logging again).
 */
export function reportFailure(caught: unknown, report: FailureReport): TaskError {
  const known = caught instanceof TaskError;
  const failure = interruptedOr(
    known ? caught : new TaskError(describeError(caught), { exitCode: ExitCode.INTERNAL, stage: report.stage, cause: caught }),
    report.signal,
    known ? caught.stage : report.stage,
  );
  report.log.error(report.event, `${report.what} failed during ${failure.stage}: ${failure.message}`, {
    ...report.fields,
    stage: failure.stage,
    cause: failure.message,
    exitCode: failure.exitCode,
  });
  if (report.metrics) report.log.metrics(report.metrics.namespace, report.metrics.dimensions, report.metrics.values);
  return failure;
}
