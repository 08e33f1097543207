import { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { ArchiveToc } from '../archive/format';
import { readSmallObject } from '../archive/objects';
import { ArchiveInput, readTableOfContents } from '../archive/toc';
import { keysFor } from '../contract';
import { ExitCode, TaskError } from '../errors';
import { Logger } from '../log';
import { DatabaseProperties, PROPERTY_ENTRY_KINDS, readDatabaseProperties } from '../postgres/database-properties';
import { checkGlobals } from '../postgres/globals';
import { throwIfDamaged } from './damage';
import { ResolvedBackup, RestoreInput } from './types';

/** What the restore will apply besides the archive's content, every statement of it checked. */
export interface RestorePlan {
  readonly toc: ArchiveToc;
  /** The database's own settings, privileges and comment (unless --no-database-properties). */
  readonly props?: DatabaseProperties;
  /** The stored globals' statements (with --globals). */
  readonly globals?: readonly string[];
}

/**
 * Phase 3: reads what the restore will apply besides the archive's content, before anything is
 * applied: the table of contents (from the front of the stored object when streaming: table
 * count, the database's own entries), the database's properties checked statement by statement,
 * and the stored globals checked likewise. Streaming, nothing has checked the bytes yet: what
 * cannot be read or is refused is first judged against the manifest, so that a damaged backup
 * says so (exit 5, every mismatch).
 */
export async function readWhatToApply(
  input: RestoreInput,
  client: S3Client,
  backup: ResolvedBackup,
  archive: ArchiveInput,
  log: Logger,
  signal: AbortSignal,
): Promise<RestorePlan> {
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
      await throwIfDamaged(client, input.storage, backup, [err.message], signal);
    throw err;
  }
}

/** Reads the stored roles (pg_dumpall --globals-only) beside the dump, checks their digest and every statement (see checkGlobals). */
async function readStoredGlobals(input: RestoreInput, client: S3Client, backup: ResolvedBackup): Promise<string[]> {
  const entry = backup.manifest.globals!;
  const refuse = (message: string) => new TaskError(message, { exitCode: ExitCode.INTEGRITY, stage: 'verify' });
  // Only the globals file of this backup's own stem: a manifest cannot point at another backup's (or another folder's).
  if (entry.key !== keysFor(backup.stem).globals)
    throw refuse(
      `The manifest of ${backup.dumpKey} names the globals ${entry.key}, not ${keysFor(backup.stem).globals}: not applying them.`,
    );
  const sql = await readSmallObject(client, input.storage, entry.key, entry.bytes);
  if (createHash('sha256').update(sql).digest('hex') !== entry.sha256)
    throw refuse(`${entry.key} does not match the SHA-256 in the manifest: not applying it.`);
  return checkGlobals(sql, entry.key);
}
