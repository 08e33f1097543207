import { S3Client } from '@aws-sdk/client-s3';
import { reportFailure } from './report-failure';
import {
  BackupKeys,
  chooseStem,
  databaseFolder,
  describeSelection,
  EVENTS,
  keysFor,
  metricDimensions,
  METRICS,
  Tier,
  tierFor,
  timestampOf,
} from '../contract';
import { BackupConfig } from '../config/backup';
import { createHash } from 'node:crypto';
import { compressionProblem, defaultCompression } from '../postgres/dump';
import { ExitCode, InterruptedError, Stage, TaskError } from '../errors';
import { captureGlobals, Globals } from '../postgres/globals';
import { formatBytes, Logger } from '../log';
import { Manifest, MANIFEST_FORMAT } from '../storage/manifest';
import { planParts } from '../storage/part-size';
import { checkVersions, clientVersion, serverInfo } from '../postgres/tools';
import { createS3Client, listObjects, storageError } from '../storage/s3';
import { contradictions, OwnObject, putNewObject, refuseTakenKeys } from '../storage/upload';
import { findUnmatchedPatterns } from '../postgres/selection';
import { streamIntoS3 } from './backup-stream';
import { TOOL_VERSION } from '../version';

export interface BackupResult {
  readonly manifest: Manifest;
  readonly manifestKey: string;
}

/** Rejects as soon as `signal` aborts, so a step that waits on the network stops waiting. */
function interrupted(signal: AbortSignal, stage: () => Stage): Promise<never> {
  return new Promise((_, reject) => {
    const fire = () => reject(new InterruptedError(String(signal.reason ?? 'a signal'), stage()));
    if (signal.aborted) fire();
    else signal.addEventListener('abort', fire, { once: true });
  });
}

/**
 * Takes one backup: checks the server and pg_dump, plans parts, picks a key that does not
 * exist, streams pg_dump into S3 (complete or nothing), checks the stored size, then writes
 * the optional globals and, last, the manifest that makes the backup complete, checking before
 * and after it that the objects at the key are this run's ({@link writeManifestAlone}).
 */
export async function runBackup(
  config: BackupConfig,
  log: Logger,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<BackupResult> {
  const { conn, storage } = config;
  const start = now();
  let stage: Stage = 'connect';
  const stop = interrupted(signal, () => stage);
  stop.catch(() => undefined);
  const step = <T>(s: Stage, work: Promise<T>): Promise<T> => {
    stage = s;
    return Promise.race([work, stop]);
  };
  const dims = metricDimensions(config.metrics.project, conn.database);
  log.addSecrets(...conn.secrets);

  try {
    log.info('backup.check', `Connecting to ${conn.display}`, { database: conn.database });
    const [server, pgDump] = await step(
      'connect',
      Promise.all([serverInfo(config.tools, conn), clientVersion(config.tools.pgDump, 'pg_dump', conn.childEnv)]),
    );
    stage = 'version-check';
    checkVersions(server, pgDump);
    // Unset: zstd:1 where this pg_dump can (README, Compression), else pg_dump's gzip 6.
    const compress = config.compress ?? (await step('version-check', defaultCompression(config.tools.pgDump, pgDump.num)));
    const compressProblem = compressionProblem(compress, pgDump.num);
    if (compressProblem) throw new TaskError(compressProblem, { exitCode: ExitCode.CONFIG, stage: 'version-check' });

    stage = 'plan';
    if (config.selection) {
      // Before anything is uploaded: a pattern that matches nothing is a typo, not an empty backup.
      const unmatched = await step('plan', findUnmatchedPatterns(config.tools, conn, config.selection));
      if (unmatched.include.length > 0) {
        throw new TaskError(
          `${unmatched.include.join(', ')} ${unmatched.include.length === 1 ? 'matches' : 'match'} nothing in ${conn.database}: nothing was backed up. Check the spelling, the schema qualifier and the case (pg_dump folds unquoted names to lower case; quote mixed case as "Name").`,
          { exitCode: ExitCode.CONFIG, stage: 'plan' },
        );
      }
      for (const pattern of unmatched.exclude)
        log.warn('backup.selection', `${pattern} matches nothing in ${conn.database}: it excludes nothing.`, { pattern });
      log.info('backup.selection', `Partial backup of ${conn.database}: ${describeSelection(config.selection)}`, {
        selection: config.selection,
      });
    }
    const plan = planParts({
      databaseSizeBytes: server.databaseSizeBytes,
      partSizeMib: config.partSizeMib,
      queueSize: config.queueSize,
      memoryLimitMib: config.memoryLimitMib,
    });
    for (const note of plan.notes) log.warn('backup.plan', note);

    let watcher: ((err: unknown, command: string) => void) | undefined;
    const client: S3Client = createS3Client(storage, (err, command) => watcher?.(err, command));
    refuseTakenKeys(client);
    const existing = await step(
      'plan',
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
    const tier = tierFor(start, config.tier);

    let globals: Globals | undefined;
    if (config.globals) globals = await step('globals', captureGlobals(config.tools, conn));

    log.info('backup.start', `Backing up ${conn.database} to s3://${storage.bucket}/${keys.dump}`, {
      database: conn.database,
      key: keys.dump,
      bucket: storage.bucket,
      tier,
      serverVersion: server.version,
      pgDumpVersion: pgDump.text,
      databaseSizeBytes: server.databaseSizeBytes,
      partSizeBytes: plan.partSizeBytes,
      queueSize: plan.queueSize,
      compression: compress ?? 'default',
      selection: config.selection,
    });

    stage = 'dump';
    const streamed = await streamIntoS3({
      config: { ...config, compress },
      client,
      key: keys.dump,
      tier,
      plan,
      log,
      signal,
      setWatcher: (w) => (watcher = w),
    });
    watcher = undefined;

    stage = 'size-check';
    const stored = await listObjects(client, storage.bucket, keys.dump).catch((err) => {
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

    // What this run wrote, to be found unchanged before and after the manifest (writeManifestAlone).
    const own: OwnObject[] = [{ key: keys.dump, bytes: streamed.bytes, etag: streamed.outcome.etag }];
    let globalsEntry: Manifest['globals'];
    if (globals) {
      stage = 'globals';
      const stored = await putNewObject(client, {
        bucket: storage.bucket,
        key: keys.globals,
        body: globals.sql,
        contentType: 'application/sql',
        tier,
        checksum: storage.checksum,
      }).catch((err) => {
        throw storageError(err, 'globals', 'Storing the globals', storage);
      });
      own.push({ key: keys.globals, bytes: Buffer.byteLength(globals.sql), etag: stored.etag });
      globalsEntry = {
        key: keys.globals,
        bytes: globals.sql.length,
        sha256: createHash('sha256').update(globals.sql).digest('hex'),
        noRolePasswords: globals.noRolePasswords,
      };
    }

    stage = 'manifest';
    const finished = now();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      database: conn.database,
      bucket: storage.bucket,
      key: keys.dump,
      tier,
      startedAt: start.toISOString(),
      finishedAt: finished.toISOString(),
      durationSeconds: Math.round((finished.getTime() - start.getTime()) / 100) / 10,
      bytes: streamed.bytes,
      sha256: streamed.sha256,
      s3Checksum: streamed.outcome.checksum,
      versionId: streamed.outcome.versionId,
      partSizeBytes: plan.partSizeBytes,
      archiveFormat: 'custom',
      compression: compress ?? 'default',
      selection: config.selection,
      server: { version: server.version, versionNum: server.versionNum, databaseSizeBytes: server.databaseSizeBytes },
      pgDump: { version: pgDump.text },
      globals: globalsEntry,
      tool: { name: 'pg-s3-backup', version: TOOL_VERSION },
    };
    await writeManifestAlone({ client, storage, keys, tier, own, body: JSON.stringify(manifest, null, 2), database: conn.database });

    const partial = describeSelection(config.selection);
    log.info(
      EVENTS.backupComplete,
      `Backup complete: s3://${storage.bucket}/${keys.dump} (${formatBytes(manifest.bytes)} in ${manifest.durationSeconds} s${partial ? `; partial: ${partial}` : ''})`,
      {
        database: conn.database,
        key: keys.dump,
        manifestKey: keys.manifest,
        bytes: manifest.bytes,
        sha256: manifest.sha256,
        durationSeconds: manifest.durationSeconds,
        ...processUsage(),
      },
    );
    log.metrics(config.metrics.namespace, dims, [
      { name: METRICS.backupSuccess, unit: 'Count', value: 1 },
      { name: METRICS.backupFailure, unit: 'Count', value: 0 },
      { name: METRICS.backupBytes, unit: 'Bytes', value: manifest.bytes },
      { name: METRICS.backupDurationSeconds, unit: 'Seconds', value: manifest.durationSeconds },
    ]);
    return { manifest, manifestKey: keys.manifest };
  } catch (err) {
    throw reportFailure(err, {
      log,
      event: EVENTS.backupFailed,
      what: `Backup of ${conn.database}`,
      stage,
      fields: { database: conn.database },
      metrics: {
        namespace: config.metrics.namespace,
        dimensions: dims,
        values: [
          { name: METRICS.backupSuccess, unit: 'Count', value: 0 },
          { name: METRICS.backupFailure, unit: 'Count', value: 1 },
          { name: METRICS.backupDurationSeconds, unit: 'Seconds', value: Math.round((now().getTime() - start.getTime()) / 100) / 10 },
        ],
      },
    });
  }
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
async function writeManifestAlone(input: {
  client: S3Client;
  storage: BackupConfig['storage'];
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
  input: { storage: BackupConfig['storage']; keys: BackupKeys; database: string },
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

/** This process's own CPU time (pg_dump excluded) and peak memory, for the log and the benchmark. */
function processUsage(): { cpuSeconds: number; maxRssBytes: number } {
  const cpu = process.cpuUsage();
  return { cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}
