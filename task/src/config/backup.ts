import { cgroupMemoryLimitMib, parseInput, settingLabel } from './parse';
import { SettingName, SETTINGS } from './settings';
import { commonConfig, CommonConfig, problemLogFormat, readSystemFile } from './shared';
import { DbConnection, passwordInFlagProblem, resolveConnection } from '../postgres/connection';
import { ConfigError } from '../errors';
import { COMPRESSION_PATTERN, Tier } from '../contract';
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
  /** Pings, webhooks and the metrics file the run reports to. */
  readonly notify: NotifyConfig;
}

/**
 * Builds the backup configuration from parsed input. Collects every problem and throws one
 * {@link ConfigError}; nothing has connected to anything yet.
 */
export function backupConfig(argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean): BackupConfig {
  const problems: string[] = [];
  const input = parseInput('backup', argv, env, problems);
  const common = commonConfig(input, isTty, problems);
  const conn = resolveConnection(input.values, env, problems);
  const leaked = passwordInFlagProblem(input.values.databaseUrl, input.sources.databaseUrl, 'DATABASE_URL');
  if (leaked) problems.push(leaked);
  const v = input.values;
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
    notify,
  };
}
