import { describeSelection, EVENTS } from '../contract';
import { ReadResult } from '../archive/digest';
import { describeError } from '../errors';
import { Logger } from '../log';
import { PropertiesReport } from '../postgres/database-properties';
import { countContent } from '../postgres/target-db';
import { ResolvedBackup, RestoreInput, RestoreSummary } from './types';

/** What the apply phase did, for the summary. */
export interface Applied {
  readonly read: ReadResult;
  readonly createdDatabase: boolean;
  readonly databaseProperties?: PropertiesReport;
}

/**
 * Phase 5: counts what the target holds and logs the summary. Counting is a report: its failure
 * is a warning and never undoes the restore.
 */
export async function summarize(
  input: RestoreInput,
  backup: ResolvedBackup,
  applied: Applied,
  started: number,
  log: Logger,
): Promise<RestoreSummary> {
  const { target } = input;
  const content = await countContent(input.tools, target).catch((err: unknown) => {
    log.warn('restore.summary', `The restore succeeded, but counting its rows failed: ${describeError(err)}`);
    return undefined;
  });
  const summary: RestoreSummary = {
    key: backup.dumpKey,
    target: target.display,
    ...content,
    bytes: applied.read.bytes,
    durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    createdDatabase: applied.createdDatabase,
    databaseProperties: applied.databaseProperties,
  };
  const counted = content ? `${content.tables} tables, ${content.rows} rows` : 'rows not counted';
  const partial = describeSelection(backup.manifest.selection);
  const of = partial ? `the partial backup ${backup.dumpKey} (${partial})` : backup.dumpKey;
  log.info(EVENTS.restoreComplete, `Restored ${of} into ${target.display}: ${counted} in ${summary.durationSeconds} s`, { ...summary });
  return summary;
}
