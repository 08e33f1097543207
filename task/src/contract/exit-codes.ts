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
  /** A backup failed its integrity check (size or SHA-256 mismatch, unreadable archive, contents or names that are not what they should be). */
  INTEGRITY: 5,
  /** `status --max-age-hours`: a database's newest complete backup is older than that, or there is none. */
  STALE: 6,
  /** The local disk failed: the temp directory filled up or could not be written while the command ran. */
  LOCAL_DISK: 7,
  /** Stopped by SIGTERM or SIGINT before it finished. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Every exit code with one word (for alerts) and its meaning (for --help). */
export const EXIT_CODES: ReadonlyArray<{ readonly code: ExitCodeValue; readonly word: string; readonly meaning: string }> = [
  { code: ExitCode.OK, word: 'success', meaning: 'success' },
  { code: ExitCode.INTERNAL, word: 'internal', meaning: 'unexpected internal error (a bug: please report it with the log)' },
  { code: ExitCode.CONFIG, word: 'configuration', meaning: 'bad configuration or usage; nothing was connected to or written' },
  {
    code: ExitCode.DATABASE,
    word: 'database',
    meaning: 'database or PostgreSQL client failure (connection, version check, pg_dump, pg_restore)',
  },
  { code: ExitCode.STORAGE, word: 'storage', meaning: 'storage (S3) failure after retries' },
  {
    code: ExitCode.INTEGRITY,
    word: 'integrity',
    meaning:
      'integrity failure: size or SHA-256 mismatch, unreadable archive, a backup that is not what it says (refused statements, another database, a bad time stamp); list/status found an invalid backup',
  },
  { code: ExitCode.STALE, word: 'stale', meaning: 'status --max-age-hours: a database has no complete backup that recent' },
  { code: ExitCode.LOCAL_DISK, word: 'local-disk', meaning: 'local disk failure: the temp directory filled up or could not be written' },
  { code: ExitCode.INTERRUPTED, word: 'interrupted', meaning: 'interrupted by SIGTERM or SIGINT' },
];

/**
 * One word per exit code a stack task can stop with, for alert messages ("3 database"):
 * the failing codes except status's, plus 137, ECS's SIGKILL after stopTimeout.
 */
export const EXIT_CODE_WORDS: ReadonlyArray<readonly [number, string]> = [
  ...EXIT_CODES.filter((e) => e.code !== ExitCode.OK && e.code !== ExitCode.STALE).map((e) => [e.code, e.word] as const),
  [137, 'killed'],
];

/**
 * The order in which a run of several backups (`backup --all-databases`) picks its exit code,
 * worst first: the run exits with the first of these that any database ended with.
 * - interrupted: the run was stopped, so databases after it were not attempted at all;
 * - internal: a bug, the state is unknown;
 * - integrity: a stored backup is not what it says;
 * - storage, local disk: the bucket or the disk is failing, which usually fails every database;
 * - database: this database (or its server) failed;
 * - configuration: a setting this database could not take (e.g. a compression its pg_dump lacks);
 * - stale (never a backup's), then success.
 */
export const EXIT_CODE_SEVERITY: readonly ExitCodeValue[] = [
  ExitCode.INTERRUPTED,
  ExitCode.INTERNAL,
  ExitCode.INTEGRITY,
  ExitCode.STORAGE,
  ExitCode.LOCAL_DISK,
  ExitCode.DATABASE,
  ExitCode.CONFIG,
  ExitCode.STALE,
  ExitCode.OK,
];

/** The worst of several exit codes by {@link EXIT_CODE_SEVERITY}; OK for none. */
export function worstExitCode(codes: readonly ExitCodeValue[]): ExitCodeValue {
  return EXIT_CODE_SEVERITY.find((c) => codes.includes(c)) ?? ExitCode.OK;
}

/** The one word of an exit code (`database`, `storage`…), as alerts and summaries print it. */
export function exitWord(code: number): string {
  return EXIT_CODES.find((e) => e.code === code)?.word ?? (code === 137 ? 'killed' : `exit-${code}`);
}
