import { S3Client } from '@aws-sdk/client-s3';
import { compareWithManifest, copyHashed, ReadResult, throwIfCorrupt } from '../archive/digest';
import { startDirectRestore, startScriptRestore } from '../archive/gated-restore';
import { openObject, transferFailure } from '../archive/objects';
import { countTableData } from '../archive/toc';
import { isFailedExit } from '../child';
import { describeError, ExitCode, InterruptedError, TaskError } from '../errors';
import { formatBytes, Logger } from '../log';
import { applyDatabaseProperties, PropertiesReport } from '../postgres/database-properties';
import { applyGlobals } from '../postgres/globals';
import { runPgRestore } from '../postgres/pg-restore';
import { newRestrictKey } from '../postgres/psql-script';
import { createDatabase } from '../postgres/target-db';
import { majorOf } from '../postgres/tools';
import { Fetched } from './fetch';
import { RestorePlan } from './plan';
import { Preflight } from './preflight';
import { Applied } from './summary';
import { ResolvedBackup, RestoreInput } from './types';
import { Done } from './undo';

/** What the apply phase works from: the earlier phases' results. */
export interface ApplyContext {
  readonly input: RestoreInput;
  readonly pre: Preflight;
  readonly backup: ResolvedBackup;
  readonly fetched: Fetched;
  readonly plan: RestorePlan;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/**
 * Phase 4: applies everything, each step appended to `done` as it takes effect (what a failure
 * leaves behind, see undo.ts): the properties' trial into an existing database, the globals, the
 * target database, the archive's content (one pass or --jobs), then the properties.
 */
export async function applyRestore(ctx: ApplyContext, done: Done[]): Promise<Applied> {
  const { input, pre, plan } = ctx;
  // Into an existing database, pg_restore commits before the properties can be applied: check first that they will apply.
  if (plan.props && pre.state.exists) await applyDatabaseProperties(input.tools, input.target, plan.props, true);
  if (plan.globals) {
    await applyStoredGlobals(ctx, plan.globals);
    done.push({ kind: 'globals' });
  }
  if (!pre.state.exists) {
    await createDatabase(input.tools, input.target, pre.state);
    done.push({ kind: 'created' });
  }
  const read = await applyContent(ctx, done);
  let databaseProperties: PropertiesReport | undefined;
  if (plan.props) {
    if (pre.state.exists) done.push({ kind: 'committed' });
    databaseProperties = await applyProperties(ctx, plan.props);
  }
  return { read, createdDatabase: !pre.state.exists, databaseProperties };
}

/** The archive's content into the target: the gated one pass (one job), or pg_restore -j from the checked download. */
async function applyContent(ctx: ApplyContext, done: Done[]): Promise<ReadResult> {
  const { input, pre, backup, fetched, log, signal } = ctx;
  const streamed = input.jobs === 1;
  if (streamed) done.push({ kind: 'streaming' });
  const total = countTableData(ctx.plan.toc);
  const how = streamed
    ? ` in one transaction, streamed from storage (it commits only once size and SHA-256 match the manifest)`
    : ` with ${input.jobs} jobs`;
  const around = pre.viaOldServer
    ? ` (${pre.pgRestore.text} into PostgreSQL ${majorOf(pre.state.serverVersionNum)}: without SET transaction_timeout, which that server lacks)`
    : '';
  log.info(
    'restore.start',
    `Restoring ${backup.dumpKey} (${formatBytes(backup.manifest.bytes)}) into ${input.target.display}${how}${around}`,
    {
      key: backup.dumpKey,
      target: input.target.display,
      tables: total,
      streamed,
      viaPsql: streamed && pre.viaOldServer,
    },
  );
  const onTable = progress(input.progressSeconds, total, log);
  const applying = streamed
    ? applyStreamed(input, pre.client, backup, pre.viaOldServer, onTable, log, signal)
    : runPgRestore(input.tools, input.target, fetched.archive as string, input, signal, onTable).then(() => fetched.downloaded!);
  return applying.catch((err: unknown) => {
    throw input.clean && err instanceof TaskError && err.stage === 'restore' && !signal.aborted
      ? withCleanAdvice(err, input.target.database)
      : err;
  });
}

/** Reports each table whose data pg_restore starts, at most every `seconds`. */
export function progress(seconds: number, total: number, log: Logger): (table: string) => void {
  let done = 0;
  let last = Date.now();
  return (table) => {
    done++;
    if (Date.now() - last < seconds * 1000) return;
    last = Date.now();
    log.info('restore.progress', `Restoring data: ${done}/${total} tables (now ${table})`, { done, total });
  };
}

/**
 * The single-job restore's one pass: streams the object into pg_restore (and psql, into a
 * server before 17), and commits only when every byte has matched the manifest and the script
 * applied without error. Returns what was read.
 */
async function applyStreamed(
  input: RestoreInput,
  client: S3Client,
  backup: ResolvedBackup,
  viaPsql: boolean,
  onTable: (table: string) => void,
  log: Logger,
  signal: AbortSignal,
): Promise<ReadResult> {
  // One GET: the restore (pg_restore, psql, the server) is slower than one S3 stream, so parts would only add work.
  const body = await openObject(client, input.storage, backup.dumpKey, signal);
  // Straight into the target, the end of the archive held back until it is checked; through psql
  // (the script's COMMIT held back) only where pg_restore's script needs a line left out.
  const pass = viaPsql
    ? startScriptRestore(input.tools, input.target, { ...input, restrictKey: newRestrictKey() }, signal, onTable)
    : startDirectRestore(input.tools, input.target, input, backup.manifest.bytes, signal, onTable);
  // pg_restore may stop reading early (a damaged block): the download goes on, so that size and digest are still judged.
  const read = await copyHashed(body, pass.archive, signal).catch(async (err: unknown) => {
    await pass.abandon();
    // Stopped while streaming: the restore itself was stopped (its transaction rolled back).
    throw transferFailure(backup.dumpKey, err, signal, 'restore');
  });
  const failed = await pass.applied.then(
    () => undefined,
    (err: unknown) => err,
  );
  const problems = compareWithManifest(read, backup.manifest);
  if (problems.length > 0 || failed !== undefined || signal.aborted) {
    await pass.abandon();
    if (signal.aborted) throw new InterruptedError(String(signal.reason), 'restore');
    // Bytes that differ from the manifest are the cause; what pg_restore or psql made of them is a detail.
    throwIfCorrupt(backup.dumpKey, [...problems, ...(problems.length > 0 && failed ? [describeError(failed)] : [])]);
    throw failed;
  }
  log.info('restore.verified', `Archive verified: ${formatBytes(read.bytes)}, size and SHA-256 match the manifest; committing`, {
    sha256: read.sha256,
  });
  await pass.commit();
  return read;
}

/**
 * pg_restore --clean drops the backup's objects in an order that ordinary dependency chains
 * can defeat (e.g. an index that a partitioned table's constraint depends on); pg_restore's
 * own --clean fails the same way. The restore ran in one transaction, so nothing changed:
 * say what to do instead.
 */
function withCleanAdvice(err: TaskError, database: string): TaskError {
  return new TaskError(
    `${err.message}\n--clean could not replace the objects in '${database}' (pg_restore drops them in an order that dependencies between them can block). ` +
      `Nothing was changed. Restore into a new database name instead (it is created for you), check it, then swap names: ALTER DATABASE "${database}" RENAME TO "${database}_old"; ALTER DATABASE "<new>" RENAME TO "${database}".`,
    { exitCode: err.exitCode, stage: err.stage, cause: err },
  );
}

/** Applies the checked globals statements to the target's server (from its maintenance database). */
export async function applyStoredGlobals(ctx: ApplyContext, statements: readonly string[]): Promise<void> {
  const { input, pre, backup, log } = ctx;
  const entry = backup.manifest.globals!;
  // Without ON_ERROR_STOP: a role that already exists fails its CREATE ROLE and psql goes on.
  const run = await applyGlobals(input.tools, input.target, statements, pre.state.maintenanceDb);
  const errors = run.stderr.split('\n').filter((l) => /ERROR:/.test(l));
  if (isFailedExit(run))
    throw new TaskError(`Applying ${entry.key} failed: ${run.stderr}`, { exitCode: ExitCode.DATABASE, stage: 'restore' });
  if (errors.length > 0)
    log.warn(
      'restore.globals',
      `${errors.length} global statements failed (usually roles that already exist): ${errors.slice(0, 3).join(' | ')}`,
    );
  log.info(
    'restore.globals',
    `Applied roles and tablespaces from ${entry.key}${entry.noRolePasswords ? ' (stored without passwords: set them again)' : ''}`,
  );
}

/** Applies the database's own settings, privileges and comment after the content, and says what was applied and skipped. */
export async function applyProperties(ctx: ApplyContext, props: NonNullable<RestorePlan['props']>): Promise<PropertiesReport> {
  const { input, log } = ctx;
  const report = await applyDatabaseProperties(input.tools, input.target, props);
  for (const s of report.skipped) log.warn('restore.properties-skipped', `Not applied: ${s}`);
  if (report.applied.length > 0)
    log.info(
      'restore.properties',
      `Applied the source database's own settings to '${input.target.database}': ${report.applied.join('; ')}`,
      {
        ...report,
      },
    );
  return report;
}
