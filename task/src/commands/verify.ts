import { backupBytes } from '../storage/manifest';
import { describeSelection, EVENTS, keyFolderSegment, metricDimensions, METRICS } from '../contract';
import { reportFailure } from './report-failure';
import { verifyStoredArchive } from '../archive/verify';
import { resolveBackup } from '../storage/catalog';
import { formatBytes, Logger } from '../log';
import { VerifyConfig } from '../config/readers';
import { restoreBackup, RestoreSummary } from '../restore';
import { createS3Client } from '../storage/s3';
import { checkScratchWritable } from '../restore/scratch';
import { tmpdir } from 'node:os';
import { failedOutcome, startNotifying } from '../notify';

export interface VerifyResult {
  readonly key: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly restored?: RestoreSummary;
}

/**
 * Checks a stored backup: its size and SHA-256 against the manifest, and a full read of
 * the archive by pg_restore, streamed with no local disk. With --restore-into it also
 * restores into a scratch database (through the same checked path as `restore`, with
 * RESTORE_JOBS jobs as the restore task has) and reports what it restored. Emits Drill*
 * metrics, which the scheduled restore drill alarms on, and reports its outcome to the
 * configured pings, webhooks and metrics file.
 */
export async function runVerify(config: VerifyConfig, log: Logger, signal: AbortSignal): Promise<VerifyResult> {
  const client = createS3Client(config.storage);
  const started = Date.now();
  const notifier = startNotifying('verify', config.notify, log, { project: config.metrics.project });
  let database = config.choice.database ?? 'unknown';
  // What the notifications know of the backup so far (a failure before the manifest is read names the key's folder).
  let about: { database: string; key?: string; bytes?: number; partial?: string | false } = {
    database: config.choice.database ?? (config.choice.key ? keyFolderSegment(config.choice.key) || 'unknown' : 'unknown'),
    key: config.choice.key,
  };
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  let result: VerifyResult;
  try {
    // The drill downloads before it restores: a scratch directory it cannot write is a configuration problem, found first.
    if (config.restoreInto) checkScratchWritable(tmpdir(), 'TMPDIR');
    const backup = await resolveBackup(client, config.storage, config.choice);
    database = backup.manifest.database;
    // A partial backup (schemas, tables, or tables without rows) is never reported as the database.
    const partial = describeSelection(backup.manifest.selection);
    about = { database, key: backup.dumpKey, bytes: backupBytes(backup.manifest), partial: partial ?? false };
    const what = partial ? `a partial backup of ${database} (${partial})` : `a backup of the whole database ${database}`;
    log.info(
      'verify.start',
      `Verifying ${backup.dumpKey}, ${what} (${formatBytes(backupBytes(backup.manifest))}, taken ${backup.manifest.startedAt})`,
      {
        key: backup.dumpKey,
        bytes: backupBytes(backup.manifest),
        sha256: backup.manifest.sha256,
        partial: partial !== undefined,
        selection: backup.manifest.selection,
      },
    );
    if (config.restoreInto) {
      const target = config.restoreInto;
      const restored = await restoreBackup(
        { ...config, target, clean: false, jobs: config.jobs, globals: false, tempDir: undefined },
        backup,
        log,
        signal,
      );
      result = { key: backup.dumpKey, bytes: backupBytes(backup.manifest), sha256: backup.manifest.sha256, restored };
    } else {
      const read = await verifyStoredArchive(client, config.storage, config.tools, backup, signal);
      result = { key: backup.dumpKey, bytes: read.bytes, sha256: read.sha256 };
    }
    reportIntact(config, result, { what, partial: partial !== undefined, database, started }, log);
  } catch (err) {
    const failure = reportFailure(err, {
      log,
      event: EVENTS.verifyFailed,
      what: 'Verification',
      stage: 'verify',
      signal,
      metrics: {
        namespace: config.metrics.namespace,
        dimensions: metricDimensions(config.metrics.project, database),
        values: [
          { name: METRICS.drillSuccess, unit: 'Count', value: 0 },
          { name: METRICS.drillFailure, unit: 'Count', value: 1 },
        ],
      },
    });
    await notifier.finish([failedOutcome('verify', about.database, failure, { ...about, durationSeconds: seconds() })]);
    throw failure;
  }
  await notifier.finish([
    { kind: 'verify', exitCode: 0, ...about, bytes: result.bytes, durationSeconds: seconds(), finishedAt: new Date() },
  ]);
  return result;
}

/** Logs an intact backup (and what the drill restored), and emits the drill's success metrics. */
function reportIntact(
  config: VerifyConfig,
  result: VerifyResult,
  about: { what: string; partial: boolean; database: string; started: number },
  log: Logger,
): void {
  const seconds = Math.round((Date.now() - about.started) / 100) / 10;
  const restored = result.restored;
  const restoredText = restored
    ? `, restored ${restored.tables !== undefined ? `${restored.tables} tables / ${restored.rows} rows` : 'it'} into ${config.restoreInto!.display}` +
      (restored.databaseProperties?.applied.length
        ? ` with the database's own settings (${restored.databaseProperties.applied.join('; ')})`
        : '')
    : '';
  log.info(
    EVENTS.verifyOk,
    `Backup ${result.key} (${about.what}) is intact: size and SHA-256 match the manifest, pg_restore read every block${restoredText} (${seconds} s)`,
    {
      key: result.key,
      partial: about.partial,
      bytes: result.bytes,
      sha256: result.sha256,
      tables: restored?.tables,
      rows: restored?.rows,
      databaseProperties: restored?.databaseProperties,
      durationSeconds: seconds,
    },
  );
  log.metrics(config.metrics.namespace, metricDimensions(config.metrics.project, about.database), [
    { name: METRICS.drillSuccess, unit: 'Count', value: 1 },
    { name: METRICS.drillFailure, unit: 'Count', value: 0 },
    { name: METRICS.drillDurationSeconds, unit: 'Seconds', value: seconds },
  ]);
}
