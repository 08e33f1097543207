import { S3Client } from '@aws-sdk/client-s3';
import { toolEnvironment } from '../postgres/connection';
import { reportFailure } from './report-failure';
import { EVENTS, keysFor } from '../contract';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  ArchiveInput,
  compareWithManifest,
  copyHashed,
  countTableData,
  downloadTo,
  interruptedOr,
  openObject,
  ReadResult,
  readSmallObject,
  readTableOfContents,
  throwIfCorrupt,
  transferFailure,
} from '../storage/archive';
import { archiveIdentityProblems, checkArchiveReadable } from '../storage/archive-header';
import { BackupEntry, resolveBackup } from '../storage/catalog';
import { CommonConfig } from '../config/shared';
import { DbConnection } from '../postgres/connection';
import { describeError, ExitCode, InterruptedError, TaskError } from '../errors';
import { formatBytes, Logger } from '../log';
import { Manifest } from '../storage/manifest';
import { needsPsqlPipe, RESTRICTING_PG_RESTORE, runPgRestore, startDirectRestore, startScriptRestore } from '../postgres/pg-restore';
import { newRestrictKey } from '../postgres/psql-script';
import { isFailedExit } from '../child';
import { applyGlobals as applyGlobalsSql, checkGlobals } from '../postgres/globals';
import { clientVersion, majorOf } from '../postgres/tools';
import { RestoreConfig, RestoreOptions } from '../config/readers';
import { createS3Client, ListedObject } from '../storage/s3';
import { countContent, createDatabase, dropDatabase, inspectTarget } from '../postgres/target-db';
import { createHash } from 'node:crypto';
import { checkScratchSpace, checkScratchWritable, makeWorkDir, RESTORE_DIR_SETTING } from '../storage/scratch';
import { applyDatabaseProperties, PROPERTY_ENTRY_KINDS, PropertiesReport, readDatabaseProperties } from '../postgres/database-properties';
import { describeSelection } from '../contract';

export interface RestoreSummary {
  readonly key: string;
  readonly target: string;
  /** Tables and rows counted after the restore; absent when counting failed (the restore stands: counting is only a report). */
  readonly tables?: number;
  readonly rows?: number;
  readonly bytes: number;
  readonly durationSeconds: number;
  readonly createdDatabase: boolean;
  /** The source database's own settings, privileges and comment applied to the target, and what was skipped. */
  readonly databaseProperties?: PropertiesReport;
}

export interface RestoreInput extends CommonConfig, RestoreOptions {
  readonly target: DbConnection;
  readonly clean: boolean;
  readonly jobs: number;
  readonly globals: boolean;
  /** Where the archive is downloaded. @default the OS temp directory */
  readonly tempDir?: string;
}

const refuse = (message: string) => new TaskError(message, { exitCode: ExitCode.CONFIG, stage: 'restore' });

/**
 * Restores a backup so that a bad archive is never committed to the target.
 *
 * One job (the default, and the drill's `verify --restore-into`): one pass, no disk. The
 * object streams through a SHA-256 into `pg_restore --single-transaction --dbname`, all of it
 * but its last bytes, without which pg_restore can neither finish nor commit (startDirectRestore).
 * Only when the whole stream has matched the manifest's size and SHA-256 is the end passed on: a
 * corrupt, truncated or interrupted archive leaves the transaction uncommitted, and the target
 * as it was (a database this run created is dropped again). Into a server older than pg_restore
 * 17 knows (needsPsqlPipe), psql applies pg_restore's script instead, its final COMMIT held back
 * until the same check (startScriptRestore).
 *
 * --jobs N: a parallel restore cannot run in one transaction, so the archive is downloaded (in
 * parts) and checked first (size, SHA-256), then restored into a database this run creates and
 * drops again on failure.
 */
export async function restoreBackup(
  input: RestoreInput,
  backup: BackupEntry & { manifest: Manifest; dump: ListedObject },
  log: Logger,
  signal: AbortSignal,
): Promise<RestoreSummary> {
  const { tools, target } = input;
  const started = Date.now();
  const checkSignal = () => {
    if (signal.aborted) throw new InterruptedError(String(signal.reason), 'restore');
  };
  log.addSecrets(...target.secrets);
  const streamed = input.jobs === 1;

  // 1. Everything that can refuse, before the download. (Both callers, restore and verify
  // --restore-into, have checked that the directory is writable before contacting anything.)
  const dir = input.tempDir ?? tmpdir();
  if (!streamed) checkScratchSpace(dir, backup.manifest.bytes, input.tempDir ? RESTORE_DIR_SETTING : 'TMPDIR');
  const state = await inspectTarget(tools, target);
  if (state.tables > 0 && !input.clean) {
    throw refuse(
      `The target ${target.display} already holds ${state.tables} tables. Restore into a new database name, or add --clean to drop and replace the objects the backup contains.`,
    );
  }
  if (!streamed && state.exists) {
    throw refuse(
      `--jobs ${input.jobs} cannot restore atomically into the existing database '${target.database}' (a parallel restore cannot run in one transaction). Restore into a new database name (it is created, and dropped again if the restore fails), then rename it; or use --jobs 1.`,
    );
  }
  if (input.globals && !backup.manifest.globals)
    throw refuse(`${backup.dumpKey} was taken without --globals: it has no roles to apply. Leave out --globals.`);
  const client: S3Client = createS3Client(input.storage);
  // pg_restore reading the archive (version, header, full read, table list) connects to nothing: no credentials.
  const toolEnv = toolEnvironment(process.env);
  const pgRestore = await clientVersion(tools.pgRestore, 'pg_restore', toolEnv);
  const header = await checkArchiveReadable(
    client,
    input.storage,
    backup.dumpKey,
    tools,
    toolEnv,
    pgRestore.text,
    backup.manifest.pgDump?.version,
    signal,
  );
  // The archive must be what its manifest says: a dump of another database filed here is refused.
  const identity = archiveIdentityProblems(header, backup.manifest);
  if (identity.length > 0) {
    await throwIfDamaged(input, client, backup, identity, signal);
    throwIfCorrupt(backup.dumpKey, identity);
  }
  const viaOldServer = needsPsqlPipe(pgRestore.num, state.serverVersionNum);
  if (viaOldServer && !streamed) {
    throw refuse(
      `${pgRestore.text} cannot restore with --jobs ${input.jobs} into PostgreSQL ${majorOf(state.serverVersionNum)}: pg_restore 17 and later send SET transaction_timeout, which servers before 17 lack, and only a single-job restore can go around it (through psql). Use --jobs 1, or restore into a PostgreSQL 17+ server.`,
    );
  }
  if (viaOldServer && pgRestore.num < RESTRICTING_PG_RESTORE) {
    throw new TaskError(
      `${pgRestore.text} cannot restore into PostgreSQL ${majorOf(state.serverVersionNum)} safely: that goes through psql, and before 17.6 pg_restore's scripts lack \\restrict, so psql would run any backslash command an archive carried (CVE-2025-8714). Install pg_restore 17.6 or later (or 18), or restore into a PostgreSQL 17+ server.`,
      { exitCode: ExitCode.DATABASE, stage: 'version-check' },
    );
  }

  const work = makeWorkDir(dir, input.tempDir ? RESTORE_DIR_SETTING : 'TMPDIR');
  let created = false;
  // What a failure leaves behind, said in the log so that nobody has to guess under stress.
  let leftAs = `The target ${target.display} was not touched.`;
  try {
    // 2. With --jobs: download and check. The target is untouched if anything here fails.
    let archive: ArchiveInput = () => openObject(client, input.storage, backup.dumpKey, signal);
    let downloaded: ReadResult | undefined;
    if (!streamed) {
      const file = join(work, 'archive.dump');
      log.info('restore.download', `Downloading ${backup.dumpKey} (${formatBytes(backup.manifest.bytes)})`, {
        key: backup.dumpKey,
        bytes: backup.manifest.bytes,
      });
      downloaded = await downloadTo(client, input.storage, backup.dumpKey, file, signal);
      checkSignal();
      // Bytes that match the manifest are exactly what pg_dump wrote and finished: no separate
      // full read (pg_restore reads every block as it restores, into a database dropped on failure).
      throwIfCorrupt(backup.dumpKey, compareWithManifest(downloaded, backup.manifest));
      log.info('restore.verified', `Archive verified: ${formatBytes(downloaded.bytes)}, size and SHA-256 match the manifest`, {
        sha256: downloaded.sha256,
      });
      archive = file;
    }
    checkSignal();
    const { toc, props, globals } = await readWhatToApply(input, client, backup, archive, log, signal);
    // Into an existing database, pg_restore commits before the properties can be applied: check first that they will apply.
    if (props && state.exists) await applyDatabaseProperties(tools, target, props, true);

    // 3. Apply.
    if (globals) {
      leftAs = 'Roles and tablespaces from the backup were applied to the server and remain.';
      await applyStoredGlobals(input, backup.manifest, globals, state.maintenanceDb, log);
    }
    if (!state.exists) {
      await createDatabase(tools, target, state);
      created = true;
    }
    if (streamed)
      leftAs = `${input.globals ? `${leftAs} ` : ''}The restore ran in one transaction, never committed: ${state.exists ? `'${target.database}' is as it was.` : 'nothing of it remains.'}`;
    const total = countTableData(toc);
    let done = 0;
    let last = Date.now();
    const onTable = (table: string) => {
      done++;
      if (Date.now() - last >= input.progressSeconds * 1000) {
        last = Date.now();
        log.info('restore.progress', `Restoring data: ${done}/${total} tables (now ${table})`, { done, total });
      }
    };
    const how = streamed
      ? ` in one transaction, streamed from storage (it commits only once size and SHA-256 match the manifest)`
      : ` with ${input.jobs} jobs`;
    const around = viaOldServer
      ? ` (${pgRestore.text} into PostgreSQL ${majorOf(state.serverVersionNum)}: without SET transaction_timeout, which that server lacks)`
      : '';
    log.info('restore.start', `Restoring ${backup.dumpKey} (${formatBytes(backup.manifest.bytes)}) into ${target.display}${how}${around}`, {
      key: backup.dumpKey,
      target: target.display,
      tables: total,
      streamed,
      viaPsql: streamed && viaOldServer,
    });
    const read = await (
      streamed
        ? applyStreamed(input, client, backup, viaOldServer, onTable, log, signal)
        : runPgRestore(tools, target, archive as string, input, signal, onTable).then(() => downloaded!)
    ).catch((err: unknown) => {
      throw input.clean && err instanceof TaskError && err.stage === 'restore' && !signal.aborted
        ? withCleanAdvice(err, target.database)
        : err;
    });
    let databaseProperties: PropertiesReport | undefined;
    if (props) {
      if (state.exists)
        leftAs = `The backup's content was restored into ${target.display} (its transaction committed), but the source database's own settings, privileges and comment were not applied.`;
      databaseProperties = await applyDatabaseProperties(tools, target, props);
      for (const s of databaseProperties.skipped) log.warn('restore.properties-skipped', `Not applied: ${s}`);
      if (databaseProperties.applied.length > 0)
        log.info(
          'restore.properties',
          `Applied the source database's own settings to '${target.database}': ${databaseProperties.applied.join('; ')}`,
          {
            ...databaseProperties,
          },
        );
    }
    // Counting is a report: its failure is a warning and never undoes the restore.
    const content = await countContent(tools, target).catch((err: unknown) => {
      log.warn('restore.summary', `The restore succeeded, but counting its rows failed: ${describeError(err)}`);
      return undefined;
    });
    const summary: RestoreSummary = {
      key: backup.dumpKey,
      target: target.display,
      ...content,
      bytes: read.bytes,
      durationSeconds: Math.round((Date.now() - started) / 100) / 10,
      createdDatabase: created,
      databaseProperties,
    };
    const counted = content ? `${content.tables} tables, ${content.rows} rows` : 'rows not counted';
    const partial = describeSelection(backup.manifest.selection);
    const of = partial ? `the partial backup ${backup.dumpKey} (${partial})` : backup.dumpKey;
    log.info(EVENTS.restoreComplete, `Restored ${of} into ${target.display}: ${counted} in ${summary.durationSeconds} s`, {
      ...summary,
    });
    return summary;
  } catch (caught) {
    // Stopped by a signal: whatever failed on the way (a killed child, an aborted transfer) reads as the interruption.
    const err = interruptedOr(caught, signal, caught instanceof TaskError ? caught.stage : 'restore');
    if (created) {
      await dropDatabase(tools, target, state).then(
        () => log.warn('restore.rollback', `Dropped the database '${target.database}' this run had created, so the target is as it was.`),
        (dropErr) =>
          log.error(
            'restore.rollback-failed',
            `Could not drop '${target.database}' after the failed restore: ${describeError(dropErr)}. Drop it by hand.`,
          ),
      );
    } else {
      log.warn('restore.target', leftAs);
    }
    throw err;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The single-job restore's one pass (see {@link restoreBackup}): streams the object into
 * pg_restore and psql, and commits only when every byte has matched the manifest and the script
 * applied without error. Returns what was read.
 */
async function applyStreamed(
  input: RestoreInput,
  client: S3Client,
  backup: BackupEntry & { manifest: Manifest },
  dropTransactionTimeout: boolean,
  onTable: (table: string) => void,
  log: Logger,
  signal: AbortSignal,
): Promise<ReadResult> {
  // One GET: the restore (pg_restore, psql, the server) is slower than one S3 stream, so parts would only add work.
  const body = await openObject(client, input.storage, backup.dumpKey, signal);
  // Straight into the target, the end of the archive held back until it is checked; through psql
  // (the script's COMMIT held back) only where pg_restore's script needs a line left out.
  const pass = dropTransactionTimeout
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

/** Reads the whole object through a SHA-256 and throws an integrity error if it differs from the manifest (with `why` among the problems). */
async function throwIfDamaged(
  input: RestoreInput,
  client: S3Client,
  backup: BackupEntry & { manifest: Manifest },
  why: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  const discard = new Writable({ write: (_chunk, _encoding, cb) => cb() });
  const read = await copyHashed(await openObject(client, input.storage, backup.dumpKey, signal), discard, signal).catch((err: unknown) => {
    throw transferFailure(backup.dumpKey, err, signal, 'download');
  });
  const problems = compareWithManifest(read, backup.manifest);
  if (problems.length > 0) throwIfCorrupt(backup.dumpKey, [...problems, ...why]);
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

/**
 * Reads what the restore will apply besides the archive's content, before anything is applied:
 * the table of contents (from the front of the stored object when streaming: table count, the
 * database's own entries), the database's properties checked statement by statement, and the
 * stored globals checked likewise. Streaming, nothing has checked the bytes yet: what cannot be
 * read or is refused is first judged against the manifest, so that a damaged backup says so
 * (exit 5, every mismatch).
 */
async function readWhatToApply(
  input: RestoreInput,
  client: S3Client,
  backup: BackupEntry & { manifest: Manifest },
  archive: ArchiveInput,
  log: Logger,
  signal: AbortSignal,
) {
  try {
    const toc = await readTableOfContents(archive, (desc) => PROPERTY_ENTRY_KINDS.has(desc), backup.dumpKey);
    const props = readDatabaseProperties(toc, { noAcl: input.noAcl || !input.databaseProperties });
    if (!input.databaseProperties && props.statements.length > 0)
      log.warn(
        'restore.properties-left-out',
        `Not applying the source database's own settings, privileges and comment (--no-database-properties): ${props.statements.map((p) => p.description).join('; ')}`,
      );
    if (props.leftOut.length > 0 && input.databaseProperties)
      log.warn('restore.properties-left-out', `Not applying the database's privileges (--no-acl): ${props.leftOut.join(', ')}`);
    const globals = input.globals ? await readStoredGlobals(input, client, backup) : undefined;
    return { toc, props: input.databaseProperties ? props : undefined, globals };
  } catch (err) {
    if (input.jobs === 1 && err instanceof TaskError && err.exitCode === ExitCode.INTEGRITY)
      await throwIfDamaged(input, client, backup, [err.message], signal);
    throw err;
  }
}

/** Reads the stored roles (pg_dumpall --globals-only) beside the dump, checks their digest and every statement (see checkGlobals). */
async function readStoredGlobals(input: RestoreInput, client: S3Client, backup: BackupEntry & { manifest: Manifest }): Promise<string[]> {
  const entry = backup.manifest.globals!;
  // Only the globals file of this backup's own stem: a manifest cannot point at another backup's (or another folder's).
  if (entry.key !== keysFor(backup.stem).globals)
    throw new TaskError(
      `The manifest of ${backup.dumpKey} names the globals ${entry.key}, not ${keysFor(backup.stem).globals}: not applying them.`,
      {
        exitCode: ExitCode.INTEGRITY,
        stage: 'verify',
      },
    );
  const sql = await readSmallObject(client, input.storage, entry.key, entry.bytes);
  if (createHash('sha256').update(sql).digest('hex') !== entry.sha256) {
    throw new TaskError(`${entry.key} does not match the SHA-256 in the manifest: not applying it.`, {
      exitCode: ExitCode.INTEGRITY,
      stage: 'verify',
    });
  }
  return checkGlobals(sql, entry.key);
}

/** Applies the checked globals statements to the target's server. */
async function applyStoredGlobals(
  input: RestoreInput,
  manifest: Manifest,
  statements: readonly string[],
  maintenanceDb: string,
  log: Logger,
): Promise<void> {
  const entry = manifest.globals!;
  // Without ON_ERROR_STOP: a role that already exists fails its CREATE ROLE and psql goes on.
  const run = await applyGlobalsSql(input.tools, input.target, statements, maintenanceDb);
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

/** The `restore` command: resolves the backup, restores it, exits non-zero on any failure. */
export async function runRestore(config: RestoreConfig, log: Logger, signal: AbortSignal): Promise<RestoreSummary> {
  try {
    // The download needs the temp directory: refuse before anything is contacted if it cannot be written.
    checkScratchWritable(config.tempDir, RESTORE_DIR_SETTING);
    const client = createS3Client(config.storage);
    const backup = await resolveBackup(client, config.storage, config.choice);
    const partial = describeSelection(backup.manifest.selection);
    log.info(
      'restore.begin',
      `Restoring ${backup.dumpKey} (taken ${backup.manifest.startedAt}, ${formatBytes(backup.manifest.bytes)}) into ${config.target.display}`,
      {
        key: backup.dumpKey,
        target: config.target.display,
        partial: partial !== undefined,
        selection: backup.manifest.selection,
      },
    );
    if (partial)
      log.warn(
        'restore.partial',
        `${backup.dumpKey} is a partial backup of ${backup.manifest.database} (${partial}): the target gets only that, not the whole database.`,
        { selection: backup.manifest.selection },
      );
    return await restoreBackup(config, backup, log, signal);
  } catch (err) {
    throw reportFailure(err, { log, event: EVENTS.restoreFailed, what: 'Restore', stage: 'restore', signal });
  }
}
