import { describeSelection, ExitCodeValue, exitWord } from '../contract';
import { causeLine, ExitCode, Stage, TaskError } from '../errors';
import { formatBytes, renderColumns } from '../log';
import { backupBytes } from '../storage/manifest';
import { BackupResult } from './types';

/**
 * How the backup of one database ended, as a notifier (pings, webhooks, metrics files) and the
 * run's summary report it. Plain data: every field is JSON as it is.
 */
export type BackupOutcome = BackupSucceeded | BackupFailed;

interface OutcomeBase {
  /** The database, as PostgreSQL names it. */
  readonly database: string;
  /** The exit code a `backup` of this database alone would have ended with. */
  readonly exitCode: ExitCodeValue;
  /** Its word (`success`, `database`, `storage`…), from the exit code table. */
  readonly exitWord: string;
  /** Seconds from the start of this database's backup to its end (or failure). */
  readonly durationSeconds: number;
  /** When this database's backup ended (a long run's first database ended hours before its last). */
  readonly finishedAt: Date;
}

/** A complete backup: its dump and manifest are stored. */
export interface BackupSucceeded extends OutcomeBase {
  readonly status: 'success';
  readonly exitCode: typeof ExitCode.OK;
  /** The dump's key (`<prefix>/<database>/<stamp>.dump`). */
  readonly key: string;
  readonly manifestKey: string;
  /** Bytes stored: the dump, or every piece of a parallel backup. */
  readonly bytes: number;
  /** What a selection left out (`partial` in list and status); undefined for the whole database. */
  readonly partial?: string;
}

/** A backup that failed: nothing of it is complete (no manifest was written). */
export interface BackupFailed extends OutcomeBase {
  readonly status: 'failed';
  /** Where it failed (the log's `stage`). */
  readonly stage: Stage;
  /** The line of the cause that says what went wrong (see {@link lastLine}): a failure's message may end with pg_dump's stderr. */
  readonly cause: string;
}

/** The outcome of a backup that completed. */
export function succeeded(database: string, result: BackupResult, durationSeconds: number, finishedAt = new Date()): BackupSucceeded {
  return {
    status: 'success',
    database,
    exitCode: ExitCode.OK,
    exitWord: exitWord(ExitCode.OK),
    durationSeconds,
    finishedAt,
    key: result.manifest.key,
    manifestKey: result.manifestKey,
    bytes: backupBytes(result.manifest),
    partial: describeSelection(result.manifest.selection),
  };
}

/** The outcome of a backup that failed with `failure` (as the command reported it). */
export function failed(database: string, failure: TaskError, durationSeconds: number, finishedAt = new Date()): BackupFailed {
  return {
    status: 'failed',
    database,
    exitCode: failure.exitCode,
    exitWord: exitWord(failure.exitCode),
    durationSeconds,
    finishedAt,
    stage: failure.stage,
    cause: lastLine(failure.message),
  };
}

/** The line of a failure's message that says what went wrong (see errors.ts). */
export const lastLine = causeLine;

/** Outcomes as aligned rows for people: database, result, then size and time or stage and cause. */
export function renderOutcomes(outcomes: readonly BackupOutcome[]): string {
  const rows = outcomes.map((o) =>
    o.status === 'success'
      ? [o.database, 'ok', `${formatBytes(o.bytes)} in ${o.durationSeconds} s: ${o.key}`]
      : [o.database, `FAILED (exit ${o.exitCode} ${o.exitWord})`, `during ${o.stage}: ${o.cause}`],
  );
  return renderColumns([['DATABASE', 'RESULT', 'DETAIL'], ...rows]);
}
