import { S3Client } from '@aws-sdk/client-s3';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { interruptedOr, throwIfInterrupted } from '../errors';
import { compareWithManifest, copyHashed, ReadResult, throwIfCorrupt } from '../archive/digest';
import { openObject, openObjectInParts } from '../archive/objects';
import { ArchiveInput } from '../archive/toc';
import { formatBytes, Logger } from '../log';
import { ResolvedBackup, RestoreInput } from './types';
import { StorageConfig, storageError } from '../storage/s3';
import { localDiskFailure, RESTORE_DIR_SETTING } from './scratch';

/** Downloads the object to `file`, hashing on the way. */
export async function downloadTo(
  client: S3Client,
  storage: StorageConfig,
  key: string,
  file: string,
  signal?: AbortSignal,
): Promise<ReadResult> {
  const body = await openObjectInParts(client, storage, key, signal);
  return copyHashed(body, createWriteStream(file, { mode: 0o600 }), signal).catch((err) => {
    const local = localDiskFailure(err, `Writing the download of ${key} to ${file}`, RESTORE_DIR_SETTING, 'download');
    throw interruptedOr(local ?? storageError(err, 'download', `Downloading s3://${storage.bucket}/${key}`, storage), signal, 'download');
  });
}

/** Where the rest of the restore reads the archive, and what the download read. */
export interface Fetched {
  /** The local file (--jobs), or the stored object opened anew for each read (one pass). */
  readonly archive: ArchiveInput;
  /** --jobs: the download's size and SHA-256, already checked against the manifest. */
  readonly downloaded?: ReadResult;
}

/**
 * Phase 2. One job: nothing to fetch, the archive streams from storage when it is applied. A
 * parallel backup: its schema (small) is downloaded and checked; its data pieces stream later.
 * --jobs N: a parallel restore cannot run in one transaction, so the archive is downloaded (in
 * parts) into `work` and checked first (size, SHA-256); the target is untouched if this fails.
 * Bytes that match the manifest are exactly what pg_dump wrote and finished: no separate full
 * read (pg_restore reads every block as it restores, into a database dropped on failure).
 */
export async function fetchArchive(
  input: RestoreInput,
  client: S3Client,
  backup: ResolvedBackup,
  work: string,
  log: Logger,
  signal: AbortSignal,
): Promise<Fetched> {
  const parallel = backup.manifest.parallel !== undefined;
  if (input.jobs === 1 && !parallel) return { archive: () => openObject(client, input.storage, backup.dumpKey, signal) };
  const file = join(work, 'archive.dump');
  const what = parallel ? ' (the schema of a parallel backup; its data pieces stream straight into the database)' : '';
  log.info('restore.download', `Downloading ${backup.dumpKey} (${formatBytes(backup.manifest.bytes)})${what}`, {
    key: backup.dumpKey,
    bytes: backup.manifest.bytes,
  });
  const downloaded = await downloadTo(client, input.storage, backup.dumpKey, file, signal);
  throwIfInterrupted(signal, 'restore');
  throwIfCorrupt(backup.dumpKey, compareWithManifest(downloaded, backup.manifest));
  log.info('restore.verified', `Archive verified: ${formatBytes(downloaded.bytes)}, size and SHA-256 match the manifest`, {
    sha256: downloaded.sha256,
  });
  return { archive: file, downloaded };
}
