import { BackupEntry, listBackups } from '../storage/catalog';
import { ListConfig } from '../config/readers';
import { formatBytes, Logger, renderColumns } from '../log';
import { createS3Client } from '../storage/s3';
import { describeError } from '../errors';
import { describeSelection, DumpSelection } from '../postgres/selection';

/** What `list --json` prints for each backup. */
export interface ListedBackup {
  readonly key: string;
  readonly startedAt: string;
  readonly bytes: number | null;
  readonly tier: string | null;
  readonly complete: boolean;
  readonly status: BackupEntry['status'];
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
    bytes: e.dump?.size ?? null,
    tier: e.tier ?? null,
    complete: e.status === 'complete',
    status: e.status,
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
      r.complete ? 'complete' : `INCOMPLETE: ${r.status}`,
      r.partial === null ? '-' : r.partial ? `partial: ${describeSelection(r.selection ?? undefined)}` : 'whole database',
    ]),
  ];
  return renderColumns(table);
}

/** Prints the backups of a database, newest first (JSON with --json). */
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
  return rows;
}
