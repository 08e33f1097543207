import { BackupEntry, INVALID_STATUSES, listBackups } from '../storage/catalog';
import { ListConfig } from '../config/readers';
import { formatBytes, Logger, renderColumns } from '../log';
import { createS3Client } from '../storage/s3';
import { describeError, ExitCode, TaskError } from '../errors';
import { describeSelection, DumpSelection } from '../contract';

/** What `list --json` prints for each backup. */
export interface ListedBackup {
  readonly key: string;
  readonly startedAt: string;
  readonly bytes: number | null;
  readonly tier: string | null;
  readonly complete: boolean;
  readonly status: BackupEntry['status'];
  /** True when the backup was tampered with or is corrupt (a manifest that is not one, or disagrees with its dump): list exits 5. */
  readonly invalid: boolean;
  /** Why it is not complete, for people; null when complete. */
  readonly problem: string | null;
  readonly sha256: string | null;
  /** pg_dump's compression as the backup asked for it (BACKUP_COMPRESS), `default` for pg_dump's own (gzip). */
  readonly compression: string | null;
  readonly globalsKey: string | null;
  /** True when the backup holds a selection (schemas, tables, or tables without rows), not the whole database. */
  readonly partial: boolean | null;
  /** The pg_dump patterns of a partial backup; null for a whole database (or when unknown). */
  readonly selection: DumpSelection | null;
}

export function toListed(e: BackupEntry): ListedBackup {
  return {
    key: e.dumpKey,
    startedAt: e.startedAt.toISOString(),
    // A parallel backup's size is all of its pieces (the manifest's sum, each piece's size checked by the catalog).
    bytes: e.manifest?.parallel?.totalBytes ?? e.dump?.size ?? null,
    tier: e.tier ?? null,
    complete: e.status === 'complete',
    status: e.status,
    invalid: INVALID_STATUSES.has(e.status),
    problem: e.problem ?? null,
    sha256: e.manifest?.sha256 ?? null,
    compression: e.manifest?.compression ?? null,
    globalsKey: e.globals?.key ?? null,
    partial: e.manifest ? e.manifest.selection !== undefined : null,
    selection: e.manifest?.selection ?? null,
  };
}

/** Renders the list as an aligned table for people. */
export function renderTable(rows: readonly ListedBackup[]): string {
  const table = [
    ['KEY', 'STARTED (UTC)', 'SIZE', 'TIER', 'COMPRESSION', 'STATUS', 'CONTENT'],
    ...rows.map((r) => [
      r.key,
      r.startedAt.slice(0, 16).replace('T', ' '),
      r.bytes === null ? '-' : formatBytes(r.bytes),
      r.tier ?? '-',
      r.compression ?? '-',
      r.complete ? 'complete' : r.invalid ? `INVALID: ${r.status}` : `INCOMPLETE: ${r.status}`,
      r.partial === null ? '-' : r.partial ? `partial: ${describeSelection(r.selection ?? undefined)}` : 'whole database',
    ]),
  ];
  return renderColumns(table);
}

/**
 * Prints the backups of a database, newest first (JSON with --json), every one of them. Then
 * exits 5 (integrity) naming each invalid backup, when there is one: something wrote objects
 * that no backup run writes, or changed them. Unfinished attempts (no manifest) alone are not
 * a failure: a run that failed leaves one, and its own alert has said so.
 */
export async function runList(config: ListConfig, log: Logger, out: (text: string) => void): Promise<readonly ListedBackup[]> {
  const client = createS3Client(config.storage);
  const rows = await listBackups(client, config.storage, config.database)
    .then((entries) => entries.map(toListed))
    .catch((err: unknown) => {
      log.error('list.failed', `Listing failed: ${describeError(err)}`, { cause: describeError(err) });
      throw err;
    });
  if (config.json) out(JSON.stringify(rows, null, 2));
  else if (rows.length === 0)
    log.info('list.empty', `No backups of '${config.database}' in s3://${config.storage.bucket}/${config.storage.prefix ?? ''}`);
  else out(renderTable(rows));
  const invalid = rows.filter((r) => r.invalid);
  if (invalid.length > 0) {
    const message = `${invalid.length} of ${rows.length} backups of '${config.database}' are invalid and are never chosen: ${invalid
      .map((r) => `${r.key} (${r.status}: ${r.problem})`)
      .join(', ')}.`;
    log.error('list.invalid', message, { keys: invalid.map((r) => r.key), exitCode: ExitCode.INTEGRITY });
    throw new TaskError(message, { exitCode: ExitCode.INTEGRITY, stage: 'list' });
  }
  return rows;
}
