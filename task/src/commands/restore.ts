import { backupBytes } from '../storage/manifest';
import { describeSelection, EVENTS } from '../contract';
import { RestoreConfig } from '../config/readers';
import { formatBytes, Logger } from '../log';
import { restoreBackup, RestoreSummary } from '../restore';
import { checkScratchWritable, RESTORE_DIR_SETTING } from '../restore/scratch';
import { resolveBackup } from '../storage/catalog';
import { createS3Client } from '../storage/s3';
import { reportFailure } from './report-failure';

/** The `restore` command: resolves the backup, restores it, exits non-zero on any failure. */
export async function runRestore(config: RestoreConfig, log: Logger, signal: AbortSignal): Promise<RestoreSummary> {
  try {
    // The download needs the temp directory: refuse before anything is contacted if it cannot be written.
    checkScratchWritable(config.tempDir, RESTORE_DIR_SETTING);
    const client = createS3Client(config.storage);
    const backup = await resolveBackup(client, config.storage, config.choice);
    const partial = describeSelection(backup.manifest.selection);
    log.info(
      'restore.begin',
      `Restoring ${backup.dumpKey} (taken ${backup.manifest.startedAt}, ${formatBytes(backupBytes(backup.manifest))}) into ${config.target.display}`,
      { key: backup.dumpKey, target: config.target.display, partial: partial !== undefined, selection: backup.manifest.selection },
    );
    if (partial)
      log.warn(
        'restore.partial',
        `${backup.dumpKey} is a partial backup of ${backup.manifest.database} (${partial}): the target gets only that, not the whole database.`,
        { selection: backup.manifest.selection },
      );
    return await restoreBackup(config, backup, log, signal);
  } catch (err) {
    throw reportFailure(err, { log, event: EVENTS.restoreFailed, what: 'Restore', stage: 'restore', signal });
  }
}
