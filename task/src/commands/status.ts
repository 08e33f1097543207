import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BackupEntry, newestBackup } from '../storage/catalog';
import { describeError, ExitCode, TaskError } from '../errors';
import { formatBytes, Logger, renderColumns } from '../log';
import { StatusConfig } from '../config/readers';
import { createS3Client, StorageConfig, storageError } from '../storage/s3';
import { describeSelection, DumpSelection } from '../postgres/selection';

/** What `status --json` prints for each database. */
export interface DatabaseStatus {
  readonly database: string;
  /** The newest complete backup, or null when the database has none. */
  readonly newest: {
    readonly key: string;
    readonly startedAt: string;
    readonly ageHours: number;
    readonly bytes: number;
    readonly tier: string;
    readonly partial: boolean;
    readonly selection: DumpSelection | null;
  } | null;
  /** The newest attempt after it that did not complete (no manifest, a mismatch…), if any. */
  readonly newerIncomplete: { readonly key: string; readonly startedAt: string; readonly status: BackupEntry['status'] } | null;
  /** With --max-age-hours: whether the newest complete backup is too old (or missing); null without it. */
  readonly stale: boolean | null;
}

/**
 * The databases that have a folder under the prefix. Key segments are percent-encoded when
 * a database name is not plainly safe (see key.ts), so they are decoded back.
 */
async function databasesUnder(client: S3Client, storage: StorageConfig): Promise<string[]> {
  const base = storage.prefix ? `${storage.prefix}/` : '';
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client
      .send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token }))
      .catch((err) => {
        throw storageError(err, 'list', 'Listing the databases', storage);
      });
    for (const p of page.CommonPrefixes ?? []) {
      const segment = p.Prefix!.slice(base.length, -1);
      try {
        out.push(decodeURIComponent(segment));
      } catch {
        out.push(segment);
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

function age(hours: number): string {
  const minutes = Math.max(0, Math.round(hours * 60));
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`;
}

/** Renders the statuses as an aligned table for people. */
export function renderStatusTable(rows: readonly DatabaseStatus[], maxAgeHours: number | undefined): string {
  const table = [
    ['DATABASE', 'NEWEST COMPLETE (UTC)', 'AGE', 'SIZE', 'TIER', ...(maxAgeHours !== undefined ? ['FRESH'] : []), 'NOTE'],
    ...rows.map((r) => {
      const notes = [
        r.newest?.partial ? `partial: ${describeSelection(r.newest.selection ?? undefined)}` : '',
        r.newerIncomplete ? `newer attempt ${r.newerIncomplete.key} is incomplete (${r.newerIncomplete.status})` : '',
      ].filter(Boolean);
      return [
        r.database,
        r.newest ? r.newest.startedAt.slice(0, 16).replace('T', ' ') : 'none',
        r.newest ? age(r.newest.ageHours) : '-',
        r.newest ? formatBytes(r.newest.bytes) : '-',
        r.newest?.tier ?? '-',
        ...(maxAgeHours !== undefined ? [r.stale ? 'STALE' : 'ok'] : []),
        notes.join('; ') || '-',
      ];
    }),
  ];
  return renderColumns(table);
}

/**
 * `status`: the newest complete backup of each database under the prefix (or of --dbname),
 * with its age. With --max-age-hours it fails (exit 6) naming every database whose newest
 * complete backup started longer ago, or that has none: a dead man's switch that needs only
 * read access (s3:ListBucket and s3:GetObject on the manifests).
 */
export async function runStatus(
  config: StatusConfig,
  log: Logger,
  out: (text: string) => void,
  now: () => Date = () => new Date(),
): Promise<readonly DatabaseStatus[]> {
  const client = createS3Client(config.storage);
  const where = `s3://${config.storage.bucket}/${config.storage.prefix ? `${config.storage.prefix}/` : ''}`;
  try {
    const databases = config.database !== undefined ? [config.database] : await databasesUnder(client, config.storage);
    const at = now().getTime();
    const rows: DatabaseStatus[] = [];
    for (const database of databases) {
      const found = await newestBackup(client, config.storage, database);
      // A folder holding no backup keys at all is not a database's (unless it was asked for by name).
      if (found.backups === 0 && config.database === undefined) continue;
      const c = found.complete;
      const ageHours = c ? Math.round(((at - c.startedAt.getTime()) / 3.6e6) * 100) / 100 : undefined;
      const incomplete = found.newerIncomplete[0];
      rows.push({
        database,
        newest: c
          ? {
              key: c.dumpKey,
              startedAt: c.startedAt.toISOString(),
              ageHours: ageHours!,
              bytes: c.manifest!.bytes,
              tier: c.manifest!.tier,
              partial: c.manifest!.selection !== undefined,
              selection: c.manifest!.selection ?? null,
            }
          : null,
        newerIncomplete: incomplete
          ? { key: incomplete.dumpKey, startedAt: incomplete.startedAt.toISOString(), status: incomplete.status }
          : null,
        stale: config.maxAgeHours === undefined ? null : ageHours === undefined || ageHours > config.maxAgeHours,
      });
    }
    if (config.json) out(JSON.stringify(rows, null, 2));
    else if (rows.length > 0) out(renderStatusTable(rows, config.maxAgeHours));

    if (rows.length === 0) {
      const message = `No backups under ${where}${config.database !== undefined ? ` for '${config.database}'` : ''}.`;
      if (config.maxAgeHours !== undefined)
        throw new TaskError(`${message} Nothing is fresh.`, { exitCode: ExitCode.STALE, stage: 'list' });
      log.info('status.empty', message);
      return rows;
    }
    const stale = rows.filter((r) => r.stale);
    if (stale.length > 0) {
      const names = stale.map((r) =>
        r.newest ? `${r.database} (newest complete backup ${age(r.newest.ageHours)} old)` : `${r.database} (no complete backup)`,
      );
      throw new TaskError(
        `${stale.length} of ${rows.length} ${rows.length === 1 ? 'database has' : 'databases have'} no complete backup in the last ${config.maxAgeHours} hours: ${names.join(', ')}.`,
        { exitCode: ExitCode.STALE, stage: 'list' },
      );
    }
    if (config.maxAgeHours !== undefined)
      log.info(
        'status.fresh',
        `Every database under ${where} has a complete backup from the last ${config.maxAgeHours} hours (${rows.length} checked).`,
        {
          databases: rows.length,
        },
      );
    return rows;
  } catch (err) {
    const failure =
      err instanceof TaskError ? err : new TaskError(describeError(err), { exitCode: ExitCode.INTERNAL, stage: 'list', cause: err });
    log.error(failure.exitCode === ExitCode.STALE ? 'status.stale' : 'status.failed', failure.message, {
      cause: failure.message,
      exitCode: failure.exitCode,
    });
    throw failure;
  }
}
