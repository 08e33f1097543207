import { EVENTS, metricDimensions, METRICS } from '../contract';
import { Logger } from '../log';
import { BackupInput, BackupResult, takeBackup } from '../backup';
import { reportFailure } from './report-failure';

/** The `backup` command: takes one backup; a failure is logged with its stage and cause, with the failure metrics. */
export async function runBackup(
  config: BackupInput,
  log: Logger,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<BackupResult> {
  const start = now();
  try {
    return await takeBackup(config, log, signal, now);
  } catch (err) {
    throw reportFailure(err, {
      log,
      event: EVENTS.backupFailed,
      what: `Backup of ${config.conn.database}`,
      stage: 'connect',
      fields: { database: config.conn.database },
      metrics: {
        namespace: config.metrics.namespace,
        dimensions: metricDimensions(config.metrics.project, config.conn.database),
        values: [
          { name: METRICS.backupSuccess, unit: 'Count', value: 0 },
          { name: METRICS.backupFailure, unit: 'Count', value: 1 },
          { name: METRICS.backupDurationSeconds, unit: 'Seconds', value: Math.round((now().getTime() - start.getTime()) / 100) / 10 },
        ],
      },
    });
  }
}
