import { S3Client } from '@aws-sdk/client-s3';
import { BackupKeys, chooseStem, databaseFolder, keysFor, Tier, tierFor, timestampOf } from '../contract';
import { Logger } from '../log';
import { PartPlan, planParts } from '../storage/part-size';
import { createS3Client, listObjects, storageError } from '../storage/s3';
import { refuseTakenKeys } from '../storage/upload';
import { Source } from './check';
import { inStage } from './phase';
import { BackupInput } from './types';

/**
 * Receives each S3 request's final error while the upload runs (the stream stops feeding it the
 * moment one part has failed for good); nothing is watched outside the upload.
 */
export class RequestWatch {
  private watcher: ((err: unknown, command: string) => void) | undefined;

  /** What the S3 client calls with every request's final error. */
  public readonly onFailure = (err: unknown, command: string): void => this.watcher?.(err, command);

  public set(watcher: ((err: unknown, command: string) => void) | undefined): void {
    this.watcher = watcher;
  }
}

/** Where and how the backup goes. */
export interface BackupPlan {
  readonly client: S3Client;
  readonly watch: RequestWatch;
  readonly parts: PartPlan;
  readonly keys: BackupKeys;
  readonly tier: Tier;
}

/**
 * Phase 2: sizes the multipart upload from the database's size (and the memory it may use),
 * and picks the first key of this minute that no object holds (an existing backup is never
 * overwritten), and the retention tier.
 */
export async function planBackup(
  input: BackupInput,
  source: Source,
  start: Date,
  log: Logger,
  signal: AbortSignal,
  streams: { readonly streams: number; readonly heldParts: number; readonly threads: number } = { streams: 1, heldParts: 0, threads: 0 },
): Promise<BackupPlan> {
  const { storage, conn } = input;
  const parts = planParts({
    databaseSizeBytes: source.server.databaseSizeBytes,
    partSizeMib: input.partSizeMib,
    queueSize: input.queueSize,
    memoryLimitMib: input.memoryLimitMib,
    ...streams,
  });
  for (const note of parts.notes) log.warn('backup.plan', note);
  const watch = new RequestWatch();
  const client = createS3Client(storage, watch.onFailure);
  refuseTakenKeys(client);
  const existing = await inStage('plan', signal, () =>
    listObjects(client, storage.bucket, databaseFolder(storage.prefix, conn.database) + timestampOf(start)).catch((err) => {
      throw storageError(err, 'plan', 'Listing existing backups', storage);
    }),
  );
  const keys = keysFor(
    chooseStem(
      storage.prefix,
      conn.database,
      start,
      existing.map((o) => o.key),
    ),
  );
  return { client, watch, parts, keys, tier: tierFor(start, input.tier) };
}
