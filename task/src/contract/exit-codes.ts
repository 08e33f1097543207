/**
 * Exit codes of the `pg-s3-backup` CLI. They are part of its public contract: the stack's
 * failure alerts explain them, and people's scripts rely on them.
 */
export const ExitCode = {
  /** The command did what it was asked. */
  OK: 0,
  /** An unexpected internal error (a bug): the message and stack are logged. */
  INTERNAL: 1,
  /** Bad configuration or usage: nothing was connected to or written. */
  CONFIG: 2,
  /** The database or a PostgreSQL client program failed (connection, version check, pg_dump, pg_restore). */
  DATABASE: 3,
  /** The object store failed (S3 unreachable, denied, or still failing after retries). */
  STORAGE: 4,
  /** A backup failed its integrity check (size or SHA-256 mismatch, unreadable archive). */
  INTEGRITY: 5,
  /** `status --max-age-hours`: a database's newest complete backup is older than that, or there is none. */
  STALE: 6,
  /** Stopped by SIGTERM or SIGINT before it finished. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** One word per failing exit code, for alert messages ("3 database"); 137 is ECS's SIGKILL after stopTimeout. */
export const EXIT_CODE_WORDS: ReadonlyArray<readonly [number, string]> = [
  [ExitCode.INTERNAL, 'internal'],
  [ExitCode.CONFIG, 'configuration'],
  [ExitCode.DATABASE, 'database'],
  [ExitCode.STORAGE, 'storage'],
  [ExitCode.INTEGRITY, 'integrity'],
  [ExitCode.INTERRUPTED, 'interrupted'],
  [137, 'killed'],
];
