import { S3Client } from '@aws-sdk/client-s3';
import { Writable } from 'node:stream';
import { compareWithManifest, copyHashed, throwIfCorrupt } from '../archive/digest';
import { openObject, transferFailure } from '../archive/objects';
import { StorageConfig } from '../storage/s3';
import { ResolvedBackup } from './types';

/**
 * Reads the whole object through a SHA-256 and throws an integrity error if it differs from the
 * manifest, with `why` among the problems: when something read before the bytes were checked
 * looks wrong, a damaged backup must say so (exit 5, every mismatch) rather than what the
 * damage made it look like.
 */
export async function throwIfDamaged(
  client: S3Client,
  storage: StorageConfig,
  backup: ResolvedBackup,
  why: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  const discard = new Writable({ write: (_chunk, _encoding, cb) => cb() });
  const read = await copyHashed(await openObject(client, storage, backup.dumpKey, signal), discard, signal).catch((err: unknown) => {
    throw transferFailure(backup.dumpKey, err, signal, 'download');
  });
  const problems = compareWithManifest(read, backup.manifest);
  if (problems.length > 0) throwIfCorrupt(backup.dumpKey, [...problems, ...why]);
}
