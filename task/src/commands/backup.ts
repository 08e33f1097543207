import { describeSelection, EVENTS, metricDimensions, METRICS } from '../contract';
import { Logger } from '../log';
import { BackupInput, BackupResult, takeBackup } from '../backup';
import { failedOutcome, NotifyConfig, Outcome, startNotifying } from '../notify';
import { backupBytes } from '../storage/manifest';
import { TaskError } from '../errors';
import { reportFailure } from './report-failure';

/**
 * The `backup` command: takes one backup ({@link takeReportedBackup}); the outcome goes to the
 * configured pings, webhooks and metrics file, whose own failures never change the run's.
 */
export async function runBackup(
  config: BackupInput & { readonly notify: NotifyConfig },
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
    result = await takeReportedBackup(config, log, signal, now);
  } catch (err) {
    const failure = err as TaskError;
    await notifier.finish([failedOutcome('backup', database, failure, { durationSeconds: seconds(), partial, finishedAt: now() })]);
    throw failure;
  }
  await notifier.finish([backupOutcome(database, result, partial, now())]);
  return result;
}

/**
 * One database's backup: a failure is logged with its stage and cause, with the failure
 * metrics, and thrown as a TaskError. `backup --all-databases` runs this for each database,
 * under one notifier for the whole run.
 */
export async function takeReportedBackup(
  config: BackupInput,
  log: Logger,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<BackupResult> {
  const start = now();
  const database = config.conn.database;
  try {
    return await takeBackup(config, log, signal, now);
  } catch (err) {
    throw reportFailure(err, {
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
          { name: METRICS.backupDurationSeconds, unit: 'Seconds', value: Math.round((now().getTime() - start.getTime()) / 100) / 10 },
        ],
      },
    });
  }
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
