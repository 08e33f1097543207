import { describeSelection, EVENTS, metricDimensions, METRICS } from '../contract';
import { formatBytes, Logger } from '../log';
import { captureGlobals } from '../postgres/globals';
import { Manifest } from '../storage/manifest';
import { OwnObject } from '../storage/upload';
import { checkSource } from './check';
import { inStage } from './phase';
import { planBackup } from './plan';
import { buildManifest, checkStoredSize, storeGlobals, writeManifestAlone } from './store';
import { streamIntoS3 } from './stream';
import { BackupInput, BackupResult } from './types';

export type { BackupInput, BackupResult } from './types';

/**
 * Takes one backup, complete or nothing, in named phases; each failure carries its stage:
 * 1. check the source: the server, pg_dump, the compression, the selection's patterns;
 * 2. plan: part sizes, a key no object holds, the retention tier; (--globals: capture them);
 * 3. stream pg_dump into S3: the object exists only if pg_dump and every part succeeded;
 * 4. check the stored size;
 * 5. store the globals, then, last, the manifest that makes the backup complete, checking
 *    before and after it that the objects at the key are this run's (store.ts).
 * Once pg_dump has finished, a signal lets the upload and the manifest complete.
 */
export async function takeBackup(
  input: BackupInput,
  log: Logger,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<BackupResult> {
  const { conn, storage } = input;
  const start = now();
  log.addSecrets(...conn.secrets);
  const source = await checkSource(input, log, signal);
  const plan = await planBackup(input, source, start, log, signal);
  const globals = input.globals ? await inStage('globals', signal, () => captureGlobals(input.tools, conn)) : undefined;
  log.info('backup.start', `Backing up ${conn.database} to s3://${storage.bucket}/${plan.keys.dump}`, {
    database: conn.database,
    key: plan.keys.dump,
    bucket: storage.bucket,
    tier: plan.tier,
    serverVersion: source.server.version,
    pgDumpVersion: source.pgDump.text,
    databaseSizeBytes: source.server.databaseSizeBytes,
    partSizeBytes: plan.parts.partSizeBytes,
    queueSize: plan.parts.queueSize,
    compression: source.compress ?? 'default',
    selection: input.selection,
  });
  const streamed = await inStage('dump', undefined, () =>
    streamIntoS3({
      input,
      compress: source.compress,
      client: plan.client,
      watch: plan.watch,
      key: plan.keys.dump,
      tier: plan.tier,
      plan: plan.parts,
      log,
      signal,
    }),
  );
  await inStage('size-check', undefined, () => checkStoredSize(input, plan, streamed));
  // What this run wrote, to be found unchanged before and after the manifest (writeManifestAlone).
  const own: OwnObject[] = [{ key: plan.keys.dump, bytes: streamed.bytes, etag: streamed.outcome.etag }];
  const stored = globals ? await inStage('globals', undefined, () => storeGlobals(input, plan, globals)) : undefined;
  if (stored) own.push(stored.own);
  const manifest = buildManifest(input, { source, plan, streamed, globals: stored?.entry, start, finished: now() });
  await inStage('manifest', undefined, () =>
    writeManifestAlone({
      client: plan.client,
      storage,
      keys: plan.keys,
      tier: plan.tier,
      own,
      body: JSON.stringify(manifest, null, 2),
      database: conn.database,
    }),
  );
  reportComplete(input, manifest, plan.keys.manifest, log);
  return { manifest, manifestKey: plan.keys.manifest };
}

/** Logs the completed backup and emits the success metrics. */
function reportComplete(input: BackupInput, manifest: Manifest, manifestKey: string, log: Logger): void {
  const { conn, storage } = input;
  const partial = describeSelection(input.selection);
  log.info(
    EVENTS.backupComplete,
    `Backup complete: s3://${storage.bucket}/${manifest.key} (${formatBytes(manifest.bytes)} in ${manifest.durationSeconds} s${partial ? `; partial: ${partial}` : ''})`,
    {
      database: conn.database,
      key: manifest.key,
      manifestKey,
      bytes: manifest.bytes,
      sha256: manifest.sha256,
      durationSeconds: manifest.durationSeconds,
      ...processUsage(),
    },
  );
  log.metrics(input.metrics.namespace, metricDimensions(input.metrics.project, conn.database), [
    { name: METRICS.backupSuccess, unit: 'Count', value: 1 },
    { name: METRICS.backupFailure, unit: 'Count', value: 0 },
    { name: METRICS.backupBytes, unit: 'Bytes', value: manifest.bytes },
    { name: METRICS.backupDurationSeconds, unit: 'Seconds', value: manifest.durationSeconds },
  ]);
}

/** This process's own CPU time (pg_dump excluded) and peak memory, for the log and the benchmark. */
function processUsage(): { cpuSeconds: number; maxRssBytes: number } {
  const cpu = process.cpuUsage();
  return { cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}
