import { cgroupMemoryLimitMib, ParsedInput, parseInput, settingLabel } from './parse';
import { SettingName, SETTINGS } from './settings';
import { commonConfig, CommonConfig, problemLogFormat, readSystemFile } from './shared';
import { DbConnection, passwordInFlagProblem, resolveConnection } from '../postgres/connection';
import { databasePatternProblem } from '../postgres/databases';
import { ConfigError } from '../errors';
import { COMPRESSION_PATTERN, StreamThreads, Tier } from '../contract';
import { DumpSelection, normalizeSelection, selectionProblems } from '../contract';
import { NotifyConfig } from '../notify';
import { notifyConfig } from './notify';

/** Each field of the dump selection and the setting that gives it. */
const SELECTION_SETTINGS = {
  schemas: 'schema',
  excludeSchemas: 'excludeSchema',
  tables: 'table',
  excludeTables: 'excludeTable',
  excludeTableData: 'excludeTableData',
} as const satisfies Record<keyof DumpSelection, SettingName>;

/** Everything `backup` needs, validated. */
export interface BackupConfig extends CommonConfig {
  readonly conn: DbConnection;
  /** pg_dump -Z value; pg_dump's default when undefined. */
  readonly compress?: string;
  /** What to dump; undefined for the whole database. */
  readonly selection?: DumpSelection;
  readonly partSizeMib?: number;
  readonly queueSize: number;
  readonly memoryLimitMib?: number;
  readonly globals: boolean;
  readonly tier: 'auto' | Tier;
  readonly progressSeconds: number;
  /** Streams at once (a parallel backup above 1). */
  readonly jobs: number;
  /** A parallel backup's piece size (MiB); undefined: the plan's default. */
  readonly pieceMib?: number;
  /** Where a parallel backup's streams run: worker threads (on), the main thread (off), or by the cores (auto). */
  readonly streamThreads: StreamThreads;
  /**
   * --all-databases: back up every database of the server, each as `conn` names it with
   * `withDatabase`; `conn.database` is then only where the list is read (PGDATABASE or
   * the URL's path, else `postgres`). Undefined: back up `conn.database` alone.
   */
  readonly allDatabases?: { readonly exclude: readonly string[] };
  /** Pings, webhooks and the metrics file the run reports to. */
  readonly notify: NotifyConfig;
}

/** The database --all-databases reads its list from when the connection names none. */
export const MAINTENANCE_DATABASE = 'postgres';

/**
 * Builds the backup configuration from parsed input. Collects every problem and throws one
 * {@link ConfigError}; nothing has connected to anything yet.
 */
export function backupConfig(argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean): BackupConfig {
  const problems: string[] = [];
  const input = parseInput('backup', argv, env, problems);
  const common = commonConfig(input, isTty, problems);
  const v = input.values;
  const conn = resolveConnection(input.values, env, problems, v.allDatabases ? MAINTENANCE_DATABASE : undefined);
  const leaked = passwordInFlagProblem(input.values.databaseUrl, input.sources.databaseUrl, 'DATABASE_URL');
  if (leaked) problems.push(leaked);
  const compress = v.compress;
  if (compress !== undefined && !COMPRESSION_PATTERN.test(compress)) {
    problems.push(
      `BACKUP_COMPRESS '${compress}' is not a pg_dump compression: use a level 0-9, or gzip:N, lz4[:N], zstd[:N], none (the method forms need pg_dump 16+).`,
    );
  }
  const selection = normalizeSelection(Object.fromEntries(Object.entries(SELECTION_SETTINGS).map(([field, name]) => [field, v[name]])));
  problems.push(...selectionProblems(selection, (field) => settingLabel(SETTINGS[SELECTION_SETTINGS[field]])));
  if (v.backupJobs > 1 && selection)
    problems.push(
      `${settingLabel(SETTINGS.backupJobs)} ${v.backupJobs} takes the whole database in pieces; a selection of schemas or tables (${Object.keys(selection).join(', ')}) is one stream. Leave out one or the other.`,
    );
  problems.push(...allDatabasesProblems(input));
  const notify = notifyConfig(input, problems);
  if (problems.length > 0 || !conn) throw new ConfigError(problems, problemLogFormat(input, common));
  return {
    ...common,
    conn,
    compress,
    selection,
    partSizeMib: v.partSizeMib,
    queueSize: v.queueSize,
    memoryLimitMib: v.memoryLimitMib ?? cgroupMemoryLimitMib(readSystemFile),
    globals: v.globals,
    tier: v.tier,
    progressSeconds: v.progressSeconds,
    jobs: v.backupJobs,
    pieceMib: v.backupPieceMib,
    streamThreads: v.backupStreamThreads,
    allDatabases: v.allDatabases ? { exclude: v.excludeDatabase ?? [] } : undefined,
    notify,
  };
}

/**
 * What --all-databases rules out: a database named on the command line as well (is it the one
 * to back up, or where to read the list?), a selection that must match in every database
 * (--schema, --table: a database without it would fail), --exclude-database without it, and
 * patterns pg_dumpall would refuse.
 */
function allDatabasesProblems(input: ParsedInput): string[] {
  const v = input.values;
  const all = settingLabel(SETTINGS.allDatabases);
  const problems: string[] = [];
  if (!v.allDatabases) {
    if (v.excludeDatabase)
      problems.push(`${settingLabel(SETTINGS.excludeDatabase)} applies only with ${all}: add ${all}, or leave the patterns out.`);
    return problems;
  }
  if (input.sources.dbname?.startsWith('--'))
    problems.push(
      `${input.sources.dbname} names one database, but ${all} backs up every database. Leave out ${input.sources.dbname} (the list is read from PGDATABASE or the URL's database, else ${MAINTENANCE_DATABASE}), or leave out ${all}.`,
    );
  for (const name of ['schema', 'table'] as const)
    if (v[name])
      problems.push(
        `${settingLabel(SETTINGS[name])} selects within one database, and would fail every database that lacks it; ${all} takes whole databases. Leave out one or the other (the exclude patterns may stay).`,
      );
  for (const pattern of v.excludeDatabase ?? []) {
    const problem = databasePatternProblem(pattern, input.sources.excludeDatabase ?? '--exclude-database');
    if (problem) problems.push(problem);
  }
  return problems;
}
