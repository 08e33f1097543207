import { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { BackupKeys, Tier } from '../contract';
import { ExitCode, TaskError } from '../errors';
import { Globals } from '../postgres/globals';
import { Manifest, MANIFEST_FORMAT, PARALLEL_MANIFEST_FORMAT, ParallelPart } from '../storage/manifest';
import { listObjects, storageError } from '../storage/s3';
import { contradictions, OwnObject, putNewObject, UploadOutcome } from '../storage/upload';
import { TOOL_VERSION } from '../version';
import { Source } from './check';
import { BackupPlan } from './plan';
import { Streamed } from './stream';
import { BackupInput } from './types';

/**
 * Phase 4: the stored object must hold every byte pg_dump wrote; a store that lost some (or a
 * dump that vanished) leaves no manifest, so the run never counts as a backup.
 */
export async function checkStoredSize(input: BackupInput, plan: BackupPlan, streamed: Streamed): Promise<void> {
  const { storage } = input;
  const { keys } = plan;
  const stored = await listObjects(plan.client, storage.bucket, keys.dump).catch((err) => {
    throw storageError(err, 'size-check', 'Checking the stored size', storage);
  });
  const object = stored.find((o) => o.key === keys.dump);
  if (!object || object.size !== streamed.bytes) {
    throw new TaskError(
      `The stored object s3://${storage.bucket}/${keys.dump} has ${object ? `${object.size} bytes` : 'disappeared'} but ${streamed.bytes} bytes were read from pg_dump. ` +
        'No manifest was written, so this backup counts as incomplete; check the store.',
      { exitCode: ExitCode.INTEGRITY, stage: 'size-check' },
    );
  }
}

/** Phase 5 (with --globals): stores the roles and tablespaces beside the dump; returns the manifest's entry and the object, which is this run's own. */
export async function storeGlobals(
  input: BackupInput,
  plan: BackupPlan,
  globals: Globals,
): Promise<{ entry: NonNullable<Manifest['globals']>; own: OwnObject }> {
  const { storage } = input;
  const { keys } = plan;
  const stored = await putNewObject(plan.client, {
    bucket: storage.bucket,
    key: keys.globals,
    body: globals.sql,
    contentType: 'application/sql',
    tier: plan.tier,
    checksum: storage.checksum,
  }).catch((err) => {
    throw storageError(err, 'globals', 'Storing the globals', storage);
  });
  return {
    own: { key: keys.globals, bytes: Buffer.byteLength(globals.sql), etag: stored.etag },
    entry: {
      key: keys.globals,
      bytes: globals.sql.length,
      sha256: createHash('sha256').update(globals.sql).digest('hex'),
      noRolePasswords: globals.noRolePasswords,
    },
  };
}

/** The manifest of a finished backup: what it holds, how it was taken, and the digests that prove it. */
export function buildManifest(
  input: BackupInput,
  run: {
    source: Source;
    plan: BackupPlan;
    streamed: Pick<Streamed, 'bytes' | 'sha256'>;
    outcome: UploadOutcome;
    globals?: Manifest['globals'];
    start: Date;
    finished: Date;
    /** A parallel backup's pieces: the manifest is then v2, and `streamed` its schema's. */
    parallel?: ParallelPart;
  },
): Manifest {
  const { source, plan, streamed, start, finished } = run;
  return {
    format: run.parallel ? PARALLEL_MANIFEST_FORMAT : MANIFEST_FORMAT,
    database: input.conn.database,
    bucket: input.storage.bucket,
    key: plan.keys.dump,
    tier: plan.tier,
    startedAt: start.toISOString(),
    finishedAt: finished.toISOString(),
    durationSeconds: Math.round((finished.getTime() - start.getTime()) / 100) / 10,
    bytes: streamed.bytes,
    sha256: streamed.sha256,
    s3Checksum: run.outcome.checksum,
    versionId: run.outcome.versionId,
    partSizeBytes: plan.parts.partSizeBytes,
    archiveFormat: 'custom',
    compression: source.compress ?? 'default',
    selection: input.selection,
    server: { version: source.server.version, versionNum: source.server.versionNum, databaseSizeBytes: source.server.databaseSizeBytes },
    pgDump: { version: source.pgDump.text },
    globals: run.globals,
    tool: { name: 'pg-s3-backup', version: TOOL_VERSION },
    ...(run.parallel ? { parallel: run.parallel } : {}),
  };
}

/**
 * Writes the manifest, the object that makes a backup complete, so that at most one run
 * completes a key, also on a store that ignores `If-None-Match` (s3rver; some S3-compatible
 * stores), where the last write of a key wins. Runs A and B chose the same key when both
 * listed the minute before either wrote (same database, same start minute). Each writes
 * dump D, then manifest M. Every write of it is preceded by a listing of its key
 * (refuseTakenKeys: an object there refuses the write, exit 4 as S3's 412). Before M, the run
 * lists the stem: D (and its globals) must carry the ETags its writes were answered with, and
 * no M may exist; after M it lists again: D and M must be its own. Only then is it complete
 * (the backup role cannot read objects, so listings, which carry ETags, are the checks).
 *
 * Name A's dump write dA, its check before M pA, its M write mA, its check after cA:
 * dA < pA < mA < cA, and the same for B. M, once written, is never deleted.
 * - At most one completes. Say mA < mB. B's pB saw no M, so dB < pB < mA < cA. A passing at
 *   cA needs the last dump write before cA to be A's, so dB < dA. B passing at cB needs the
 *   last before cB to be B's; dA < mA < mB < cB, so dA < dB. Contradiction. (Globals: same.)
 * - The run that completes had a consistent pair at its check. After that, only a write that
 *   was already in flight (its key listed free before this run's object existed, sent after
 *   this run's check) can replace one of its objects; that writer then fails its own check
 *   with exit 5 and names the key to `verify`. On s3rver a completion of a large object is
 *   slow, so this is a real window; a run that starts later is refused before it writes.
 *
 * Where the store enforces `If-None-Match` (S3), the second write of a key gets 412 and these
 * checks never fire. Identical bytes give identical ETags: two dumps of an unchanged database
 * started within the same second (pg_dump stamps its archive to the second) cannot be told
 * apart, and whichever manifest stays describes that dump truly. A listing has no version
 * ids, so the ETag is the identity also on a versioned bucket.
 */
export async function writeManifestAlone(input: {
  client: S3Client;
  storage: BackupInput['storage'];
  keys: BackupKeys;
  tier: Tier;
  own: readonly OwnObject[];
  body: string;
  database: string;
}): Promise<void> {
  const { client, storage, keys } = input;
  const check = (own: readonly OwnObject[], absent: string[]) =>
    contradictions(client, storage.bucket, keys.stem, own, absent).catch((err) => {
      throw storageError(err, 'manifest', "Checking the backup's objects", storage);
    });
  const before = await check(input.own, [keys.manifest]);
  if (before.length > 0) throw sameKeyError(input, before, false);
  const written = await putNewObject(client, {
    bucket: storage.bucket,
    key: keys.manifest,
    body: input.body,
    contentType: 'application/json',
    tier: input.tier,
    checksum: storage.checksum,
  }).catch((err) => {
    throw storageError(err, 'manifest', 'Writing the manifest', storage);
  });
  const after = await check([...input.own, { key: keys.manifest, bytes: Buffer.byteLength(input.body), etag: written.etag }], []);
  if (after.length > 0) throw sameKeyError(input, after, true);
}

function sameKeyError(
  input: { storage: BackupInput['storage']; keys: BackupKeys; database: string },
  problems: readonly string[],
  manifestWritten: boolean,
): TaskError {
  const { storage, keys } = input;
  return new TaskError(
    `Another writer used the same key s3://${storage.bucket}/${keys.stem}.* while this backup ran: ${problems.join('; ')}. ` +
      `This store does not enforce If-None-Match (S3 refuses such a second write with 412), so two backups of ${input.database} ` +
      "started in the same minute chose one key and replaced each other's objects. " +
      `This run's backup is not complete${manifestWritten ? '' : ' and it wrote no manifest'}. ` +
      `Run \`verify --key ${keys.dump}\` to see whether the other run's backup is intact, and run backups of one database one at a time.`,
    { exitCode: ExitCode.INTEGRITY, stage: 'manifest' },
  );
}
