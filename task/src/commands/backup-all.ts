import { EVENTS, ExitCodeValue, worstExitCode } from '../contract';
import { BackupConfig } from '../config/backup';
import { ExitCode, InterruptedError, TaskError } from '../errors';
import { formatBytes, Logger } from '../log';
import { BackupOutcome, failed, renderOutcomes, succeeded } from '../backup/outcome';
import { inStage } from '../backup/phase';
import { withDatabase } from '../postgres/connection';
import { ClusterDatabase, listClusterDatabases } from '../postgres/databases';
import { captureGlobals, Globals } from '../postgres/globals';
import { failedOutcome, Outcome, RunNotifier, startNotifying } from '../notify';
import { takeReportedBackup } from './backup';
import { reportFailure } from './report-failure';

/** What `backup --all-databases` did: each database's outcome, the ones it left out, and the run's exit code. */
export interface AllDatabasesRun {
  /** One per database backed up (or attempted), in name order. */
  readonly outcomes: readonly BackupOutcome[];
  /** The databases left out, each with its reason. */
  readonly skipped: readonly ClusterDatabase[];
  /** The databases a signal stopped the run before (not attempted: no outcome, no notification, no metrics). */
  readonly notAttempted: readonly string[];
  /** The worst of the outcomes' exit codes (contract/exit-codes.ts, EXIT_CODE_SEVERITY); 0 when all succeeded. */
  readonly exitCode: ExitCodeValue;
}

type AllDatabasesConfig = BackupConfig & { readonly allDatabases: NonNullable<BackupConfig['allDatabases']> };

/**
 * `backup --all-databases`: lists the server's databases (from the connection's own), takes the
 * globals once when asked, then backs up each database in turn exactly as `backup` of it alone
 * would (same engine, keys, logs and metrics; --jobs applies to each), and logs a summary that
 * names each one's outcome. One database's failure does not stop the others. Returns every
 * outcome; the caller turns a non-zero `exitCode` into the run's exit. A failure before any
 * database (listing them, the globals) is reported and thrown, as a single backup's is.
 */
export async function backupAllDatabases(
  config: AllDatabasesConfig,
  log: Logger,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<AllDatabasesRun> {
  log.addSecrets(...config.conn.secrets);
  const databases = await listDatabases(config, log, signal);
  const globals = config.globals ? await captureOnce(config, log, signal) : undefined;
  const outcomes: BackupOutcome[] = [];
  const notAttempted: string[] = [];
  for (const name of databases.chosen) {
    // A signal stops the run: the databases after it are named once, as not attempted.
    if (signal.aborted) notAttempted.push(name);
    else outcomes.push(await backupOne(config, name, globals, log, signal, now));
  }
  if (notAttempted.length > 0)
    log.warn('backup.skip', `Not backing up ${notAttempted.join(', ')}: the run was interrupted`, { databases: notAttempted });
  const codes = [...outcomes.map((o) => o.exitCode), ...(notAttempted.length > 0 ? [ExitCode.INTERRUPTED] : [])];
  const run = { outcomes, skipped: databases.skipped, notAttempted, exitCode: worstExitCode(codes) };
  logSummary(run, log);
  return run;
}

/**
 * The command: the run under one notifier (one start ping; one closing ping naming every
 * database, a webhook document and metrics series per database), and its exit code as the
 * command's (the summary has said why). A failure before any database (listing them, the
 * globals) is reported as the whole run's.
 */
export async function runAllDatabases(config: AllDatabasesConfig, log: Logger, signal: AbortSignal): Promise<AllDatabasesRun> {
  const start = Date.now();
  const notifier: RunNotifier = startNotifying('backup', config.notify, log, { project: config.metrics.project });
  let run: AllDatabasesRun;
  try {
    run = await backupAllDatabases(config, log, signal);
  } catch (err) {
    const failure = err as TaskError;
    const durationSeconds = Math.round((Date.now() - start) / 100) / 10;
    await notifier.finish([failedOutcome('backup', ALL_DATABASES, failure, { durationSeconds, partial: false })], { runLevel: true });
    throw failure;
  }
  await notifier.finish(run.outcomes.map(notifyOutcome));
  const worst = run.outcomes.find((o) => o.exitCode === run.exitCode);
  if (worst?.status === 'failed') throw new TaskError(worst.cause, { exitCode: run.exitCode, stage: worst.stage });
  if (run.notAttempted.length > 0) throw new InterruptedError(String(signal.reason), 'connect');
  return run;
}

/** Phase 1: the databases to back up, in name order, and the ones left out (each logged with its reason). */
async function listDatabases(
  config: AllDatabasesConfig,
  log: Logger,
  signal: AbortSignal,
): Promise<{ chosen: string[]; skipped: ClusterDatabase[] }> {
  const { conn, tools } = config;
  const exclude = config.allDatabases.exclude;
  const what = `Backup of every database on ${conn.display}`;
  try {
    log.info('backup.databases', `Listing the databases of ${conn.display}`, { database: conn.database });
    const all = await inStage('connect', signal, () => listClusterDatabases(tools, conn, exclude));
    const skipped = all.filter((d) => d.skip);
    for (const d of skipped)
      log.info('backup.skip', `Skipping ${d.name}: ${skipWhy(d, conn.childEnv.PGUSER)}`, { database: d.name, reason: d.skip });
    for (const pattern of exclude.filter((p) => !all.some((d) => d.excludedBy.includes(p))))
      log.warn('backup.exclude', `--exclude-database ${pattern} matches no database: it excludes nothing.`, { pattern });
    const chosen = all.filter((d) => !d.skip).map((d) => d.name);
    if (chosen.length === 0)
      throw new TaskError(
        `No database to back up: all ${all.length} were skipped (templates, no connections, no CONNECT privilege, excluded).`,
        {
          exitCode: ExitCode.DATABASE,
          stage: 'plan',
        },
      );
    log.info('backup.databases', `Backing up ${chosen.length} database${chosen.length === 1 ? '' : 's'}: ${chosen.join(', ')}`, {
      databases: chosen,
      skipped: skipped.map((d) => ({ database: d.name, reason: d.skip })),
    });
    return { chosen, skipped };
  } catch (err) {
    throw reportFailure(err, { log, event: EVENTS.backupFailed, what, stage: 'connect', signal, fields: { database: conn.database } });
  }
}

function skipWhy(d: ClusterDatabase, user: string | undefined): string {
  switch (d.skip) {
    case 'template':
      return 'a template (datistemplate)';
    case 'no connections':
      return 'it does not allow connections (datallowconn = false)';
    case 'no connect privilege':
      return `${user ? `the user ${user}` : 'this user'} has no CONNECT privilege on it`;
    default:
      return `excluded by --exclude-database ${d.excludedBy.join(', ')}`;
  }
}

/** Phase 2 (--globals): roles and tablespaces, captured once, stored beside every database's backup (where restore --globals reads them). */
async function captureOnce(config: AllDatabasesConfig, log: Logger, signal: AbortSignal): Promise<Globals> {
  try {
    const globals = await inStage('globals', signal, () => captureGlobals(config.tools, config.conn));
    log.info(
      'backup.globals',
      `Roles and tablespaces captured once (${formatBytes(globals.sql.length)}), stored with each database's backup`,
      {
        bytes: globals.sql.length,
        noRolePasswords: globals.noRolePasswords,
      },
    );
    return globals;
  } catch (err) {
    throw reportFailure(err, {
      log,
      event: EVENTS.backupFailed,
      what: 'Capturing roles and tablespaces (--globals) for every database',
      stage: 'globals',
      signal,
      fields: { database: config.conn.database },
    });
  }
}

/** Phase 3, for one database: `backup` of it alone (which logs its failure and metrics), as an outcome; never throws. */
async function backupOne(
  config: AllDatabasesConfig,
  database: string,
  capturedGlobals: Globals | undefined,
  log: Logger,
  signal: AbortSignal,
  now: () => Date,
): Promise<BackupOutcome> {
  const start = now();
  const seconds = () => Math.round((now().getTime() - start.getTime()) / 100) / 10;
  const input = { ...config, conn: withDatabase(config.conn, database), allDatabases: undefined, capturedGlobals };
  try {
    return succeeded(database, await takeReportedBackup(input, log, signal, now), seconds(), now());
  } catch (err) {
    // takeReportedBackup has logged it (backup.failed, with stage and cause) and emitted its metrics.
    return failed(database, err as TaskError, seconds(), now());
  }
}

/** Phase 4: one line per database, in text for people and as `outcomes` in JSON. */
function logSummary(run: AllDatabasesRun, log: Logger): void {
  const bad = run.outcomes.filter((o) => o.status === 'failed');
  const head =
    bad.length === 0 && run.exitCode === 0
      ? `All ${run.outcomes.length} databases backed up`
      : `${bad.length} of ${run.outcomes.length} databases failed (${bad.map((o) => o.database).join(', ')}); the run exits ${run.exitCode}`;
  const stopped = run.notAttempted.length > 0 ? `\nInterrupted before ${run.notAttempted.join(', ')} (not attempted)` : '';
  log.log(run.exitCode === 0 ? 'info' : 'error', 'backup.summary', `${head}\n${renderOutcomes(run.outcomes)}${stopped}`, {
    exitCode: run.exitCode,
    failed: bad.map((o) => o.database),
    notAttempted: run.notAttempted,
    outcomes: run.outcomes,
    skipped: run.skipped.map((d) => ({ database: d.name, reason: d.skip })),
  });
}

/** How pings and webhooks name a run that failed before any database: listing them, or their globals. */
export const ALL_DATABASES = 'all databases';

/** A database's outcome as the notifier takes it. */
function notifyOutcome(o: BackupOutcome): Outcome {
  const { finishedAt } = o;
  return o.status === 'success'
    ? {
        kind: 'backup',
        database: o.database,
        exitCode: 0,
        key: o.key,
        bytes: o.bytes,
        durationSeconds: o.durationSeconds,
        partial: o.partial ?? false,
        finishedAt,
      }
    : {
        kind: 'backup',
        database: o.database,
        exitCode: o.exitCode,
        stage: o.stage,
        cause: o.cause,
        durationSeconds: o.durationSeconds,
        partial: false,
        finishedAt,
      };
}
