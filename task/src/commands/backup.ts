import { describeSelection, EVENTS, metricDimensions, METRICS } from '../contract';
import { BackupConfig } from '../config/backup';
import { Logger } from '../log';
import { BackupResult, takeBackup } from '../backup';
import { failedOutcome, Outcome, startNotifying } from '../notify';
import { backupBytes } from '../storage/manifest';
import { reportFailure } from './report-failure';

/**
 * The `backup` command: takes one backup; a failure is logged with its stage and cause, with
 * the failure metrics. The outcome goes to the configured pings, webhooks and metrics file,
 * whose own failures never change the run's.
 */
export async function runBackup(
  config: BackupConfig,
  log: Logger,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<BackupResult> {
  const start = now();
  const notifier = startNotifying('backup', config.notify, log, { project: config.metrics.project });
  const database = config.conn.database;
  const partial = describeSelection(config.selection) ?? false;
  const seconds = () => Math.round((now().getTime() - start.getTime()) / 100) / 10;
  let result: BackupResult;
  try {
    result = await takeBackup(config, log, signal, now);
  } catch (err) {
    const failure = reportFailure(err, {
      log,
      event: EVENTS.backupFailed,
      what: `Backup of ${database}`,
      stage: 'connect',
      fields: { database },
      metrics: {
        namespace: config.metrics.namespace,
        dimensions: metricDimensions(config.metrics.project, database),
        values: [
          { name: METRICS.backupSuccess, unit: 'Count', value: 0 },
          { name: METRICS.backupFailure, unit: 'Count', value: 1 },
          { name: METRICS.backupDurationSeconds, unit: 'Seconds', value: seconds() },
        ],
      },
    });
    await notifier.finish([failedOutcome('backup', database, failure, { durationSeconds: seconds(), partial, finishedAt: now() })]);
    throw failure;
  }
  await notifier.finish([backupOutcome(database, result, partial, now())]);
  return result;
}

/** The outcome of a completed backup, from its manifest. */
function backupOutcome(database: string, result: BackupResult, partial: string | false, finishedAt: Date): Outcome {
  const { manifest } = result;
  return {
    kind: 'backup',
    database,
    exitCode: 0,
    key: manifest.key,
    bytes: backupBytes(manifest),
    durationSeconds: manifest.durationSeconds,
    partial,
    finishedAt,
  };
}
