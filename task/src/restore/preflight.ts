import { S3Client } from '@aws-sdk/client-s3';
import { tmpdir } from 'node:os';
import { throwIfCorrupt } from '../archive/digest';
import { archiveIdentityProblems, checkArchiveReadable } from '../archive/header';
import { ExitCode, TaskError } from '../errors';
import { toolEnvironment } from '../postgres/connection';
import { needsPsqlPipe, RESTRICTING_PG_RESTORE } from '../postgres/pg-restore';
import { inspectTarget, TargetState } from '../postgres/target-db';
import { clientVersion, majorOf } from '../postgres/tools';
import { createS3Client } from '../storage/s3';
import { throwIfDamaged } from './damage';
import { checkScratchSpace, RESTORE_DIR_SETTING } from './scratch';
import { ResolvedBackup, RestoreInput } from './types';

/** What the first phase learned, and everything later phases need of it. */
export interface Preflight {
  readonly client: S3Client;
  /** The target before anything was changed. */
  readonly state: TargetState;
  readonly pgRestore: { readonly text: string; readonly num: number };
  /** Into a server older than pg_restore 17 knows: through psql (needsPsqlPipe). */
  readonly viaOldServer: boolean;
  /** Where work files (and the --jobs download) go, and how to name that setting. */
  readonly dir: string;
  readonly dirSetting: string;
}

const refuse = (message: string) => new TaskError(message, { exitCode: ExitCode.CONFIG, stage: 'restore' });

/**
 * Phase 1: everything that can refuse, before anything is downloaded or changed. The target's
 * state, what the options allow into it, and the archive itself: that this pg_restore can read
 * it, and that it is what its manifest says. (Both callers, restore and verify --restore-into,
 * have checked that the temp directory is writable before contacting anything.)
 */
export async function preflight(input: RestoreInput, backup: ResolvedBackup, signal: AbortSignal): Promise<Preflight> {
  const { tools, target } = input;
  const dir = input.tempDir ?? tmpdir();
  const dirSetting = input.tempDir ? RESTORE_DIR_SETTING : 'TMPDIR';
  // A parallel backup downloads only its schema (manifest.bytes): its data pieces never touch the disk.
  if (input.jobs > 1 || backup.manifest.parallel) checkScratchSpace(dir, backup.manifest.bytes, dirSetting);
  const state = await inspectTarget(tools, target);
  refuseTarget(input, backup, state);
  const client = createS3Client(input.storage);
  // pg_restore reading the archive (version, header, table list) connects to nothing: no credentials.
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
    await throwIfDamaged(client, input.storage, backup, identity, signal);
    throwIfCorrupt(backup.dumpKey, identity);
  }
  const viaOldServer = needsPsqlPipe(pgRestore.num, state.serverVersionNum);
  refuseVersions(input, pgRestore, state.serverVersionNum, viaOldServer, backup.manifest.parallel !== undefined);
  return { client, state, pgRestore, viaOldServer, dir, dirSetting };
}

/** What the target and the options rule out: a target with tables (without --clean), --jobs into an existing database, --globals without stored roles. */
function refuseTarget(input: RestoreInput, backup: ResolvedBackup, state: TargetState): void {
  const { target } = input;
  if (state.tables > 0 && !input.clean) {
    throw refuse(
      `The target ${target.display} already holds ${state.tables} tables. Restore into a new database name, or add --clean to drop and replace the objects the backup contains.`,
    );
  }
  if (input.tables && !backup.manifest.parallel)
    throw refuse(
      `--table reads only the pieces that hold a table, and ${backup.dumpKey} is one archive (a single-stream backup): restore it whole into a new database and copy the table from there, or take parallel backups (backup --jobs N).`,
    );
  if (backup.manifest.parallel && (state.exists || input.clean)) {
    throw refuse(
      `${backup.dumpKey} is a parallel backup: it is restored into a new database under a temporary name, renamed to '${target.database}' once complete, so '${target.database}' must not exist${input.clean ? ' (--clean does not apply)' : ''}. Restore into a new database name (then rename it), or drop '${target.database}' first.`,
    );
  }
  if (input.jobs > 1 && state.exists) {
    throw refuse(
      `--jobs ${input.jobs} cannot restore atomically into the existing database '${target.database}' (a parallel restore cannot run in one transaction). Restore into a new database name (it is created, and dropped again if the restore fails), then rename it; or use --jobs 1.`,
    );
  }
  if (input.globals && !backup.manifest.globals)
    throw refuse(`${backup.dumpKey} was taken without --globals: it has no roles to apply. Leave out --globals.`);
}

/** The pg_restore and server pairs this restore cannot go through: --jobs, or a psql path without \restrict, into a server before 17. */
function refuseVersions(
  input: RestoreInput,
  pgRestore: Preflight['pgRestore'],
  serverVersionNum: number,
  viaOldServer: boolean,
  parallel: boolean,
): void {
  if (viaOldServer && (input.jobs > 1 || parallel)) {
    throw refuse(
      `${pgRestore.text} cannot restore ${parallel ? 'a parallel backup' : `with --jobs ${input.jobs}`} into PostgreSQL ${majorOf(serverVersionNum)}: pg_restore 17 and later send SET transaction_timeout, which servers before 17 lack, and only a single-job restore can go around it (through psql). Use --jobs 1, or restore into a PostgreSQL 17+ server.`,
    );
  }
  if (viaOldServer && pgRestore.num < RESTRICTING_PG_RESTORE) {
    throw new TaskError(
      `${pgRestore.text} cannot restore into PostgreSQL ${majorOf(serverVersionNum)} safely: that goes through psql, and before 17.6 pg_restore's scripts lack \\restrict, so psql would run any backslash command an archive carried (CVE-2025-8714). Install pg_restore 17.6 or later (or 18), or restore into a PostgreSQL 17+ server.`,
      { exitCode: ExitCode.DATABASE, stage: 'version-check' },
    );
  }
}
