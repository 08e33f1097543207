import { backupBytes } from '../storage/manifest';
import { BackupEntry, databasesUnder, INVALID_STATUSES, newestBackup } from '../storage/catalog';
import { describeError, ExitCode, TaskError } from '../errors';
import { formatBytes, Logger, renderColumns } from '../log';
import { StatusConfig } from '../config/readers';
import { createS3Client } from '../storage/s3';
import { describeSelection, DumpSelection } from '../contract';

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
  /**
   * Every attempt newer than `newest` (all of them when there is none), newest first: unfinished
   * (no manifest) or invalid (see `invalid`). Empty when the newest backup is complete.
   */
  readonly newerIncomplete: readonly NewerAttempt[];
  /** True when one of `newerIncomplete` is invalid (tampered or corrupt): status exits 5 unless it exits 6. */
  readonly flagged: boolean;
  /** With --max-age-hours: whether the newest complete backup is too old (or missing); null without it. */
  readonly stale: boolean | null;
}

/** An attempt newer than the newest complete backup, as `status --json` prints it. */
export interface NewerAttempt {
  readonly key: string;
  /** From its manifest when that parsed, else from its key's stamp: not believed, shown. */
  readonly startedAt: string;
  readonly status: BackupEntry['status'];
  /** True for a backup that was tampered with or is corrupt, false for an unfinished attempt. */
  readonly invalid: boolean;
  /** Why it is not complete, for people. */
  readonly problem: string | null;
}

function age(hours: number): string {
  const minutes = Math.max(0, Math.round(hours * 60));
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m`;
}

/** One note on a group of newer attempts: the only one, or how many and the newest. */
function attemptsNote(attempts: readonly NewerAttempt[], one: (a: NewerAttempt) => string, many: string): string {
  if (attempts.length === 0) return '';
  const [first] = attempts;
  return attempts.length === 1 ? one(first) : `${attempts.length} ${many} ${first.key} (${first.status})`;
}

/** Renders the statuses as an aligned table for people. */
export function renderStatusTable(rows: readonly DatabaseStatus[], maxAgeHours: number | undefined): string {
  const table = [
    ['DATABASE', 'NEWEST COMPLETE (UTC)', 'AGE', 'SIZE', 'TIER', ...(maxAgeHours !== undefined ? ['FRESH'] : []), 'NOTE'],
    ...rows.map((r) => {
      const notes = [
        r.newest?.partial ? `partial: ${describeSelection(r.newest.selection ?? undefined)}` : '',
        attemptsNote(
          r.newerIncomplete.filter((a) => a.invalid),
          (a) => `INVALID newer backup ${a.key} (${a.status}), not counted`,
          'INVALID newer backups, not counted; the newest',
        ),
        attemptsNote(
          r.newerIncomplete.filter((a) => !a.invalid),
          (a) => `newer attempt ${a.key} is incomplete (${a.status})`,
          'newer attempts are incomplete; the newest',
        ),
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

/** A database's row: its newest complete backup (age from `at`), and what is newer. */
function statusRow(database: string, found: Awaited<ReturnType<typeof newestBackup>>, at: number, maxAgeHours?: number): DatabaseStatus {
  const c = found.complete;
  const ageHours = c ? Math.round(((at - c.startedAt.getTime()) / 3.6e6) * 100) / 100 : undefined;
  const newer: NewerAttempt[] = found.newerIncomplete.map((e) => ({
    key: e.dumpKey,
    startedAt: e.startedAt.toISOString(),
    status: e.status,
    invalid: INVALID_STATUSES.has(e.status),
    problem: e.problem ?? null,
  }));
  return {
    database,
    newest: c
      ? {
          key: c.dumpKey,
          startedAt: c.startedAt.toISOString(),
          ageHours: ageHours!,
          bytes: backupBytes(c.manifest!),
          tier: c.manifest!.tier,
          partial: c.manifest!.selection !== undefined,
          selection: c.manifest!.selection ?? null,
        }
      : null,
    newerIncomplete: newer,
    flagged: newer.some((a) => a.invalid),
    stale: maxAgeHours === undefined ? null : ageHours === undefined || ageHours > maxAgeHours,
  };
}

/** Names each flagged database's invalid newer backups and why ('' when none is flagged). */
function flaggedText(rows: readonly DatabaseStatus[]): string {
  return rows
    .filter((r) => r.flagged)
    .map(
      (r) =>
        `${r.database}: ${r.newerIncomplete
          .filter((a) => a.invalid)
          .map((a) => `${a.key} (${a.status}: ${a.problem})`)
          .join(', ')}`,
    )
    .join('; ');
}

/**
 * The outcome once every row is printed: exit 6 (stale) naming the stale databases, else exit 5
 * (integrity) naming the invalid newer backups it flagged, else success.
 */
function conclude(rows: readonly DatabaseStatus[], config: StatusConfig, log: Logger, where: string): void {
  const flagged = rows.filter((r) => r.flagged);
  const invalidText = flaggedText(rows);
  const stale = rows.filter((r) => r.stale);
  if (stale.length > 0) {
    const names = stale.map((r) =>
      r.newest ? `${r.database} (newest complete backup ${age(r.newest.ageHours)} old)` : `${r.database} (no complete backup)`,
    );
    throw new TaskError(
      `${stale.length} of ${rows.length} ${rows.length === 1 ? 'database has' : 'databases have'} no complete backup in the last ${config.maxAgeHours} hours: ${names.join(', ')}.` +
        (invalidText ? ` Invalid newer backups, not counted: ${invalidText}.` : ''),
      { exitCode: ExitCode.STALE, stage: 'list' },
    );
  }
  if (flagged.length > 0) {
    throw new TaskError(
      `${flagged.length} of ${rows.length} ${rows.length === 1 ? 'database has' : 'databases have'} an invalid backup newer than the newest complete one; it was not counted: ${invalidText}.`,
      { exitCode: ExitCode.INTEGRITY, stage: 'list' },
    );
  }
  if (config.maxAgeHours !== undefined)
    log.info(
      'status.fresh',
      `Every database under ${where} has a complete backup from the last ${config.maxAgeHours} hours (${rows.length} checked).`,
      { databases: rows.length },
    );
}

/**
 * `status`: the newest complete backup of each database under the prefix (or of --dbname),
 * with its age, and every attempt newer than it. With --max-age-hours it fails (exit 6) naming
 * every database whose newest complete backup started longer ago, or that has none: a dead
 * man's switch that needs only read access (s3:ListBucket and s3:GetObject on the manifests).
 * Otherwise it fails with exit 5 when a newer backup is invalid (planted or corrupt: see
 * catalog.ts): never counted as fresh, it is named instead. Every row is printed first.
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
      rows.push(statusRow(database, found, at, config.maxAgeHours));
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
    conclude(rows, config, log, where);
    return rows;
  } catch (err) {
    const failure =
      err instanceof TaskError ? err : new TaskError(describeError(err), { exitCode: ExitCode.INTERNAL, stage: 'list', cause: err });
    const event =
      failure.exitCode === ExitCode.STALE ? 'status.stale' : failure.exitCode === ExitCode.INTEGRITY ? 'status.invalid' : 'status.failed';
    log.error(event, failure.message, {
      cause: failure.message,
      exitCode: failure.exitCode,
    });
    throw failure;
  }
}
