import { describeSelection, EVENTS, metricDimensions, METRICS } from '../contract';
import { formatBytes, Logger } from '../log';
import { startDump } from '../postgres/dump';
import { captureGlobals, Globals } from '../postgres/globals';
import { backupBytes, Manifest } from '../storage/manifest';
import { OwnObject } from '../storage/upload';
import { checkSource, Source } from './check';
import { inStage } from './phase';
import { BackupPlan, planBackup } from './plan';
import { checkStoredPieces, completePieces, logPlan, openSnapshotPlan, pieceEntries, streamPieces } from './parallel';
import { pieceFormat } from './sources';
import { findZstd, pieceCompression } from './table-piece';
import { buildManifest, checkStoredSize, storeGlobals, writeManifestAlone } from './store';
import { streamIntoS3 } from './stream';
import { streamLayout } from './threads';
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
  if ((input.jobs ?? 1) > 1) return takeParallelBackup(input, log, signal, now);
  const { conn, storage } = input;
  const start = now();
  log.addSecrets(...conn.secrets);
  const source = await checkSource(input, log, signal);
  const plan = await planBackup(input, source, start, log, signal);
  const globals = await globalsFor(input, signal);
  logStart(input, source, plan, log);
  const streamed = await inStage('dump', undefined, () =>
    streamIntoS3({
      input,
      source: startDump(input.tools, conn, { compress: source.compress, selection: input.selection }),
      client: plan.client,
      watch: plan.watch,
      key: plan.keys.dump,
      tier: plan.tier,
      plan: plan.parts,
      log,
      signal,
    }),
  );
  const outcome = await streamed.completion;
  await inStage('size-check', undefined, () => checkStoredSize(input, plan, streamed));
  // What this run wrote, to be found unchanged before and after the manifest (writeManifestAlone).
  const own: OwnObject[] = [{ key: plan.keys.dump, bytes: streamed.bytes, etag: outcome.etag }];
  const stored = globals ? await inStage('globals', undefined, () => storeGlobals(input, plan, globals)) : undefined;
  if (stored) own.push(stored.own);
  const manifest = buildManifest(input, { source, plan, streamed, outcome, globals: stored?.entry, start, finished: now() });
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

/**
 * Takes a parallel backup (--jobs N), complete or nothing, in the same phases: check the source;
 * open a session whose snapshot every piece reads under, and plan the pieces under it (the
 * schema, the rest, and the large tables, split into block ranges); plan the parts for N
 * streams (refused up front when their buffers cannot fit); stream the pieces N at a time, their
 * completions held until all have streamed; complete them, check their stored sizes, store the
 * globals, and last write the manifest (v2) that lists every piece.
 */
async function takeParallelBackup(input: BackupInput, log: Logger, signal: AbortSignal, now: () => Date): Promise<BackupResult> {
  const { conn, storage } = input;
  const start = now();
  log.addSecrets(...conn.secrets);
  const source = await checkSource(input, log, signal);
  const snapshot = await inStage('plan', signal, () => openSnapshotPlan(input, source, input.jobs!));
  try {
    const layout = streamLayout(input.jobs, snapshot.pieces.length, input.streamThreads);
    const plan = await planBackup(input, source, start, log, signal, {
      streams: layout.jobs,
      heldParts: snapshot.pieces.length,
      threads: layout.threads,
    });
    const zstd = findZstd();
    const compression = pieceCompression(source.compress, pieceFormat(source.pgDump.num), zstd);
    logPlan(snapshot, compression, zstd, log);
    const globals = await globalsFor(input, signal);
    logStart(input, source, plan, log);
    const sources = { input, source, snapshot: snapshot.snapshot, encoding: snapshot.encoding, compression, zstd, createdAt: start };
    const pieces = await inStage('dump', undefined, () =>
      streamPieces({ ...sources, pieces: snapshot.pieces, layout, keys: plan.keys, tier: plan.tier, parts: plan.parts, log, signal }),
    );
    const outcomes = await inStage('upload', undefined, () => completePieces(pieces, storage));
    await snapshot.session.close();
    await inStage('size-check', undefined, () => checkStoredPieces(plan.client, storage, plan.keys.stem, pieces));
    const { entries, own } = pieceEntries(pieces, outcomes);
    const stored = globals ? await inStage('globals', undefined, () => storeGlobals(input, plan, globals)) : undefined;
    if (stored) own.push(stored.own);
    const schema = pieces.find((p) => p.piece.kind === 'schema')!;
    const manifest = buildManifest(input, {
      source,
      plan,
      streamed: schema.streamed,
      outcome: outcomes.get(schema.key)!,
      globals: stored?.entry,
      start,
      finished: now(),
      parallel: {
        jobs: input.jobs!,
        snapshot: snapshot.snapshot,
        totalBytes: pieces.reduce((sum, p) => sum + p.streamed.bytes, 0),
        pieces: entries,
      },
    });
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
  } finally {
    await snapshot.session.close().catch(() => undefined);
  }
}

/** The roles and tablespaces to store with --globals: the run's, when it captured them once for every database; else captured now. */
async function globalsFor(input: BackupInput, signal: AbortSignal): Promise<Globals | undefined> {
  if (!input.globals) return undefined;
  return input.capturedGlobals ?? (await inStage('globals', signal, () => captureGlobals(input.tools, input.conn)));
}

/** Logs where the backup goes and how it was planned. */
function logStart(input: BackupInput, source: Source, plan: BackupPlan, log: Logger): void {
  const { conn, storage } = input;
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
}

/** Logs the completed backup and emits the success metrics. */
function reportComplete(input: BackupInput, manifest: Manifest, manifestKey: string, log: Logger): void {
  const { conn, storage } = input;
  const partial = describeSelection(input.selection);
  log.info(
    EVENTS.backupComplete,
    `Backup complete: s3://${storage.bucket}/${manifest.key} (${formatBytes(backupBytes(manifest))}${manifest.parallel ? ` in ${manifest.parallel.pieces.length + 1} pieces` : ''} in ${manifest.durationSeconds} s${partial ? `; partial: ${partial}` : ''})`,
    {
      database: conn.database,
      key: manifest.key,
      manifestKey,
      bytes: backupBytes(manifest),
      sha256: manifest.sha256,
      durationSeconds: manifest.durationSeconds,
      ...processUsage(),
    },
  );
  log.metrics(input.metrics.namespace, metricDimensions(input.metrics.project, conn.database), [
    { name: METRICS.backupSuccess, unit: 'Count', value: 1 },
    { name: METRICS.backupFailure, unit: 'Count', value: 0 },
    { name: METRICS.backupBytes, unit: 'Bytes', value: backupBytes(manifest) },
    { name: METRICS.backupDurationSeconds, unit: 'Seconds', value: manifest.durationSeconds },
  ]);
}

/** This process's own CPU time (pg_dump excluded) and peak memory, for the log and the benchmark. */
function processUsage(): { cpuSeconds: number; maxRssBytes: number } {
  const cpu = process.cpuUsage();
  return { cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}
