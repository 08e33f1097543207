/** What a run notifies about: a backup, or a verification (the restore drill). */
export type RunKind = 'backup' | 'verify';

/**
 * The outcome of one database in one run. A run of one database has one; a run over several
 * databases (backup --all-databases) has one per database, each named in the pings, the
 * webhooks and the metrics file.
 */
export interface Outcome {
  readonly kind: RunKind;
  /** The database it is about. */
  readonly database: string;
  /** 0 on success, else the run's exit code for this database (task/src/contract/exit-codes.ts). */
  readonly exitCode: number;
  /** Where a failure happened (`connect`, `dump`…); undefined on success. */
  readonly stage?: string;
  /** What failed (the logged cause); undefined on success. */
  readonly cause?: string;
  /** The dump's key: the one written (backup) or checked (verify), when known. */
  readonly key?: string;
  /** The backup's stored bytes, when known. */
  readonly bytes?: number;
  /** How long this database's part of the run took. */
  readonly durationSeconds: number;
  /**
   * What a partial backup holds (its selection of schemas or tables, as the log says it);
   * false for a backup of the whole database; undefined when not known (a verification that
   * failed before it read the manifest).
   */
  readonly partial?: string | false;
  /** When the outcome was known. */
  readonly finishedAt: Date;
}

/** True when any database of the run failed: the run's ping is then a failure. */
export function anyFailed(outcomes: readonly Outcome[]): boolean {
  return outcomes.some((o) => o.exitCode !== 0);
}

/** A failure as a command reports it (a TaskError: message, exit code and stage). */
export interface ReportedFailure {
  readonly message: string;
  readonly exitCode: number;
  readonly stage: string;
}

/** The outcome of a database whose part of the run failed with `failure`. */
export function failedOutcome(
  kind: RunKind,
  database: string,
  failure: ReportedFailure,
  about: { readonly durationSeconds: number; readonly key?: string; readonly partial?: string | false; readonly finishedAt?: Date },
): Outcome {
  return {
    kind,
    database,
    exitCode: failure.exitCode,
    stage: failure.stage,
    cause: failure.message,
    key: about.key,
    partial: about.partial,
    durationSeconds: about.durationSeconds,
    finishedAt: about.finishedAt ?? new Date(),
  };
}
