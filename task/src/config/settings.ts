/**
 * Every setting of the CLI in one table: its flag, its environment variable, its type and
 * default, which commands use it and its help text. `parse.ts` parses and types the values from
 * this table and `help.ts` renders `--help` from it, so the two cannot drift apart.
 */
import { DEFAULT_METRICS_NAMESPACE, DEFAULT_QUEUE_SIZE, ENV, EnvName, SSL_MODES, STREAM_THREADS } from '../contract';
/** The CLI's commands, in the order help lists them. What each does is commands/index.ts. */
export const COMMAND_NAMES = ['backup', 'list', 'status', 'verify', 'restore'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface SettingSpec {
  /** Flag name without the leading dashes. */
  readonly flag: string;
  /** Environment variable read when the flag is absent. */
  readonly env?: EnvName;
  /** `list`: a repeatable flag, or a comma-separated environment variable; the flags win over the variable. */
  readonly type: 'string' | 'integer' | 'boolean' | 'enum' | 'list';
  /** How the variable of a `list` setting separates its items. @default 'comma' */
  readonly separator?: 'comma' | 'whitespace';
  /** The value may hold a token (a webhook URL): no message ever prints it. @default false */
  readonly secret?: boolean;
  /** Allowed values of an `enum` setting. */
  readonly values?: readonly string[];
  /** Inclusive bounds of an `integer` setting. */
  readonly min?: number;
  readonly max?: number;
  /** The value when neither the flag nor the variable is given; parsing fills it in. */
  readonly default?: string | number | boolean;
  /** Shown in --help instead of `default`, for a default that is not a value (libpq's, the SDK's, computed). */
  readonly defaultText?: string;
  readonly help: string;
  /** Commands that accept the setting. */
  readonly commands: readonly CommandName[];
  /** Help section. */
  readonly group:
    'Database' | 'Storage' | 'Backup' | 'What to dump' | 'Which backup' | 'Freshness' | 'Restore and verify' | 'Notifications' | 'Output';
}

const ALL: readonly CommandName[] = COMMAND_NAMES;
const DB: readonly CommandName[] = ['backup'];
/** The commands that report their outcome to pings, webhooks and the metrics file. */
const NOTIFY: readonly CommandName[] = ['backup', 'verify'];

export const SETTINGS = {
  databaseUrl: {
    flag: 'database-url',
    env: ENV.databaseUrl,
    type: 'string',
    commands: DB,
    group: 'Database',
    help: 'postgres://user:password@host:port/dbname?sslmode=… (as Heroku gives it), instead of the PG* settings. A password in the flag is refused (command lines are visible to other processes): set the variable.',
  },
  host: {
    flag: 'host',
    env: ENV.host,
    type: 'string',
    commands: DB,
    group: 'Database',
    help: 'Database server host (libpq PGHOST).',
    defaultText: "libpq's default (local socket)",
  },
  port: {
    flag: 'port',
    env: ENV.port,
    type: 'integer',
    min: 1,
    max: 65535,
    commands: DB,
    group: 'Database',
    help: 'Database server port.',
    defaultText: '5432',
  },
  user: {
    flag: 'user',
    env: ENV.user,
    type: 'string',
    commands: DB,
    group: 'Database',
    help: 'Database user.',
    defaultText: 'the OS user name',
  },
  dbname: {
    flag: 'dbname',
    env: ENV.dbname,
    type: 'string',
    commands: ALL,
    group: 'Database',
    help: "backup: the database to back up (required; with --all-databases, not this flag: PGDATABASE or the URL's database is where the list is read). list/verify/restore: the database whose backups to read (required with --latest and for list). status: only this database (default: every database under the prefix).",
  },
  sslmode: {
    flag: 'sslmode',
    env: ENV.sslmode,
    type: 'enum',
    values: SSL_MODES,
    commands: DB,
    group: 'Database',
    help: 'libpq SSL mode. Where a URL also gives ?sslmode= (DATABASE_URL; with PGSSLMODE, restore --target and verify --restore-into), the stricter of the two is used: disable < allow < prefer < require < verify-ca < verify-full.',
    defaultText: 'prefer',
  },
  bucket: {
    flag: 'bucket',
    env: ENV.bucket,
    type: 'string',
    commands: ALL,
    group: 'Storage',
    help: 'S3 bucket that holds the backups. Required.',
  },
  prefix: {
    flag: 'prefix',
    env: ENV.prefix,
    type: 'string',
    commands: ALL,
    group: 'Storage',
    help: 'Key prefix; keys are <prefix>/<database>/<YYYYMMDDHHmm>.dump.',
    defaultText: 'none',
  },
  s3Endpoint: {
    flag: 's3-endpoint',
    env: ENV.s3Endpoint,
    type: 'string',
    commands: ALL,
    group: 'Storage',
    help: 'Endpoint URL of an S3-compatible store (path-style addressing), e.g. http://127.0.0.1:4569.',
    defaultText: 'AWS S3',
  },
  region: {
    flag: 'region',
    env: ENV.region,
    type: 'string',
    commands: ALL,
    group: 'Storage',
    help: "AWS region (credentials come from the AWS SDK's default chain).",
    defaultText: "the SDK's chain; us-east-1 with --s3-endpoint",
  },
  s3MaxAttempts: {
    flag: 's3-max-attempts',
    env: ENV.s3MaxAttempts,
    type: 'integer',
    min: 1,
    max: 20,
    commands: ALL,
    group: 'Storage',
    help: 'Attempts per S3 request (transient errors: 5xx, throttling, resets).',
    default: 6,
  },
  s3TimeoutSeconds: {
    flag: 's3-timeout-seconds',
    env: ENV.s3TimeoutSeconds,
    type: 'integer',
    min: 1,
    max: 3600,
    commands: ALL,
    group: 'Storage',
    help: 'Seconds an S3 connection may be idle (or take to connect) before the attempt fails.',
    default: 60,
  },
  s3Checksum: {
    flag: 's3-checksum',
    env: ENV.s3Checksum,
    type: 'enum',
    values: ['SHA256', 'CRC32', 'CRC32C', 'none'],
    commands: ['backup'],
    group: 'Storage',
    help: 'S3 additional checksum the store verifies for every part; "none" for stores that reject checksum headers.',
    default: 'SHA256',
  },
  compress: {
    flag: 'compress',
    env: ENV.compress,
    type: 'string',
    commands: ['backup'],
    group: 'Backup',
    help: 'pg_dump compression, passed as -Z: a gzip level 0-9, or gzip:N, lz4[:N], zstd[:N], none (these method forms need pg_dump 16+). With pg_dump 15 or older, level 1 dumps much faster than gzip 6 for somewhat more bytes (see docs/performance.md, Compression).',
    defaultText:
      "zstd:1 with pg_dump 16+ built with zstd (fastest measured at an archive no larger than gzip 6's: docs/performance.md, Compression); else pg_dump's own, gzip level 6",
  },
  allDatabases: {
    flag: 'all-databases',
    env: ENV.allDatabases,
    type: 'boolean',
    commands: ['backup'],
    group: 'What to dump',
    help: "Back up every database the user may connect to, each as its own backup under <prefix>/<database>/, one after another; templates, databases that do not allow connections and those without CONNECT privilege are skipped and logged. The list is read from the connection's database (PGDATABASE or the URL's path; default postgres); naming one with --dbname as well is refused. One database's failure does not stop the others; the run exits with the worst exit code (see docs/cli.md, All databases). Not with --schema or --table.",
    default: false,
  },
  excludeDatabase: {
    flag: 'exclude-database',
    env: ENV.excludeDatabase,
    type: 'list',
    commands: ['backup'],
    group: 'What to dump',
    help: "With --all-databases: leave out databases matching this pattern, by pg_dumpall --exclude-database's rules (psql's: * and ? wildcards, unquoted letters folded to lower case, double quotes for exact names; no dot). Repeatable. A pattern that matches nothing is a warning.",
    defaultText: 'none',
  },
  schema: {
    flag: 'schema',
    env: ENV.schema,
    type: 'list',
    commands: ['backup'],
    group: 'What to dump',
    help: 'Dump only schemas matching this pg_dump pattern (pg_dump -n). Repeatable; the variable takes a comma-separated list. A pattern that matches nothing fails the backup before anything is uploaded.',
    defaultText: 'every schema',
  },
  excludeSchema: {
    flag: 'exclude-schema',
    env: ENV.excludeSchema,
    type: 'list',
    commands: ['backup'],
    group: 'What to dump',
    help: 'Leave out schemas matching this pattern (pg_dump -N). Repeatable. A pattern that matches nothing is a warning.',
    defaultText: 'none',
  },
  table: {
    flag: 'table',
    env: ENV.table,
    type: 'list',
    commands: ['backup'],
    group: 'What to dump',
    help: 'Dump only tables (and views, sequences) matching this pattern, and nothing they depend on (pg_dump -t). Repeatable; cannot be combined with --schema or --exclude-schema, which pg_dump would ignore. A pattern that matches nothing fails the backup before anything is uploaded.',
    defaultText: 'every table',
  },
  excludeTable: {
    flag: 'exclude-table',
    env: ENV.excludeTable,
    type: 'list',
    commands: ['backup'],
    group: 'What to dump',
    help: 'Leave out tables matching this pattern, definition and data (pg_dump -T). Repeatable. A pattern that matches nothing is a warning.',
    defaultText: 'none',
  },
  excludeTableData: {
    flag: 'exclude-table-data',
    env: ENV.excludeTableData,
    type: 'list',
    commands: ['backup'],
    group: 'What to dump',
    help: 'Keep the definition of tables matching this pattern but not their rows (pg_dump --exclude-table-data): audit logs, sessions, caches. Repeatable. A pattern that matches nothing is a warning.',
    defaultText: 'none',
  },
  partSizeMib: {
    flag: 'part-size-mib',
    env: ENV.partSizeMib,
    type: 'integer',
    min: 5,
    max: 5120,
    commands: ['backup'],
    group: 'Backup',
    help: 'Multipart part size. Overrides sizing from pg_database_size().',
    defaultText: 'max(8, database size x 1.2 / 10,000) MiB',
  },
  backupPieceMib: {
    flag: 'piece-size-mib',
    env: ENV.backupPieceMib,
    type: 'integer',
    min: 1,
    max: 1048576,
    commands: ['backup'],
    group: 'Backup',
    help: "A parallel backup's piece size, at least: a table of at least half the piece size gets pieces of its own, split into block ranges of about that size (PostgreSQL 14+); smaller tables share one piece.",
    defaultText: "64; the piece size is a third of each stream's share of the database when that is larger",
  },
  backupStreamThreads: {
    flag: 'stream-threads',
    env: ENV.backupStreamThreads,
    type: 'enum',
    values: STREAM_THREADS,
    commands: ['backup'],
    group: 'Backup',
    help: "Where a parallel backup's streams run: each on a worker thread of its own (on), or all on the main thread (off). auto: worker threads when there are at least 1.5 cores per stream (os.availableParallelism()), so that each stream's pg_dump or COPY children have a core and its Node work half of one; with fewer, the threads only compete with the children. Each thread adds 48 MiB to the memory the run is checked against (docs/performance.md).",
    default: 'auto',
  },
  queueSize: {
    flag: 'queue-size',
    env: ENV.queueSize,
    type: 'integer',
    min: 1,
    max: 32,
    commands: ['backup'],
    group: 'Backup',
    help: 'Parts uploaded concurrently. Memory is about (queue size + 2) x part size.',
    default: DEFAULT_QUEUE_SIZE,
  },
  memoryLimitMib: {
    flag: 'memory-limit-mib',
    env: ENV.memoryLimitMib,
    type: 'integer',
    min: 64,
    commands: ['backup'],
    group: 'Backup',
    help: 'Memory the upload buffers must fit in; the run refuses up front when they cannot.',
    defaultText: "the container's cgroup limit, if any",
  },
  globals: {
    flag: 'globals',
    env: ENV.globals,
    type: 'boolean',
    commands: ['backup', 'restore'],
    group: 'Backup',
    help: 'backup: also store roles and tablespaces (pg_dumpall --globals-only) beside the dump. restore: apply the stored roles before the restore.',
    default: false,
  },
  key: {
    flag: 'key',
    env: ENV.key,
    type: 'string',
    commands: ['verify', 'restore'],
    group: 'Which backup',
    help: 'Key of the dump to use (as printed by list), e.g. myapp/app/202611240400.dump.',
  },
  latest: {
    flag: 'latest',
    type: 'boolean',
    default: false,
    commands: ['verify', 'restore'],
    group: 'Which backup',
    help: 'Use the newest complete backup (dump and manifest) of --dbname.',
  },
  json: {
    flag: 'json',
    type: 'boolean',
    default: false,
    commands: ['list', 'status'],
    group: 'Output',
    help: 'Print the result as JSON, for scripts.',
  },
  maxAgeHours: {
    flag: 'max-age-hours',
    env: ENV.maxAgeHours,
    type: 'integer',
    min: 1,
    max: 87600,
    commands: ['status'],
    group: 'Freshness',
    help: "Exit 6 (stale), naming them, when any database's newest complete backup started longer ago than this, or it has none. A dead man's switch for hosts without CloudWatch.",
    defaultText: 'report only (exit 0)',
  },
  target: {
    flag: 'target',
    env: ENV.target,
    type: 'string',
    commands: ['restore'],
    group: 'Restore and verify',
    help: 'postgres:// URL of the database to restore into; created if it does not exist. Keep the password out of the flag: use the variable, PGPASSWORD or a PGPASSFILE.',
  },
  restoreInto: {
    flag: 'restore-into',
    env: ENV.restoreInto,
    type: 'string',
    commands: ['verify'],
    group: 'Restore and verify',
    help: 'Also restore into this scratch database (postgres:// URL; empty or new) and report what was restored.',
  },
  clean: {
    flag: 'clean',
    env: ENV.clean,
    type: 'boolean',
    commands: ['restore'],
    group: 'Restore and verify',
    help: 'Drop and recreate objects that exist in the target (otherwise a target holding tables is refused).',
    default: false,
  },
  backupJobs: {
    flag: 'jobs',
    env: ENV.backupJobs,
    type: 'integer',
    min: 1,
    max: 32,
    commands: ['backup'],
    group: 'Backup',
    help: 'Streams at once. Above 1: a parallel backup, every piece read under one snapshot (the schema, the rest, and large tables split into block ranges), the manifest listing them all (see docs/performance.md). Not with a selection of schemas or tables.',
    default: 1,
  },
  jobs: {
    flag: 'jobs',
    env: ENV.jobs,
    type: 'integer',
    min: 1,
    max: 64,
    commands: ['verify', 'restore'],
    group: 'Restore and verify',
    help: 'Parallel pg_restore jobs; above 1 the target must be a new database (see docs/cli.md, restore). A parallel backup restores its data pieces this many at a time, streamed, into a new database under a temporary name that is renamed into place when complete. verify: with --restore-into only (the drill restores as the restore task does).',
    default: 1,
  },
  restoreTable: {
    flag: 'table',
    env: ENV.restoreTable,
    type: 'list',
    commands: ['restore'],
    group: 'Restore and verify',
    help: 'Restore only this table, named exactly as schema.table (quote a part that holds a dot: "my.schema".t). Repeatable. Needs a parallel backup (backup --jobs N), of which only the schema and the pieces holding these tables are read. Like pg_restore -t: the table and its rows, not its indexes, constraints or triggers, into a new database.',
    defaultText: 'every table',
  },
  noOwner: {
    flag: 'no-owner',
    env: ENV.noOwner,
    type: 'boolean',
    commands: ['verify', 'restore'],
    group: 'Restore and verify',
    help: 'Do not restore object ownership (for a target with different roles, e.g. RDS).',
    default: false,
  },
  noAcl: {
    flag: 'no-acl',
    env: ENV.noAcl,
    type: 'boolean',
    commands: ['verify', 'restore'],
    group: 'Restore and verify',
    help: 'Do not restore privileges (GRANT/REVOKE).',
    default: false,
  },
  tempDir: {
    flag: 'temp-dir',
    env: ENV.tempDir,
    type: 'string',
    commands: ['restore'],
    group: 'Restore and verify',
    help: 'Where restore keeps its work files, and where restore --jobs N downloads the archive before applying it (needs the archive size free). A parallel backup downloads only its schema here.',
    defaultText: 'the OS temp directory',
  },
  tier: {
    flag: 'tier',
    env: ENV.tier,
    type: 'enum',
    values: ['auto', 'daily', 'weekly', 'monthly'],
    commands: ['backup'],
    group: 'Backup',
    help: 'Retention tier tag. auto: monthly on the 1st (UTC), weekly on Sundays, daily otherwise.',
    default: 'auto',
  },
  project: {
    flag: 'project',
    env: ENV.project,
    type: 'string',
    commands: ALL,
    group: 'Output',
    help: 'Project name, added as a metrics dimension.',
    defaultText: 'none',
  },
  metricsNamespace: {
    flag: 'metrics-namespace',
    env: ENV.metricsNamespace,
    type: 'string',
    commands: ALL,
    group: 'Output',
    help: 'CloudWatch namespace of the Embedded Metric Format lines.',
    default: DEFAULT_METRICS_NAMESPACE,
  },
  logFormat: {
    flag: 'log-format',
    env: ENV.logFormat,
    type: 'enum',
    values: ['auto', 'json', 'text'],
    commands: ALL,
    group: 'Output',
    help: 'json: one JSON object per line (CloudWatch). text: for people. auto: text on a terminal.',
    default: 'auto',
  },
  noDatabaseProperties: {
    flag: 'no-database-properties',
    env: ENV.noDatabaseProperties,
    type: 'boolean',
    commands: ['verify', 'restore'],
    group: 'Restore and verify',
    help: "Do not apply the source database's own settings (ALTER DATABASE/ROLE … SET), privileges and comment to the target.",
    default: false,
    defaultText: 'false (they are applied, whatever the target is called)',
  },
  progressSeconds: {
    flag: 'progress-seconds',
    env: ENV.progressSeconds,
    type: 'integer',
    min: 1,
    max: 3600,
    commands: ['backup', 'verify', 'restore'],
    group: 'Output',
    help: 'Seconds between progress lines.',
    default: 30,
  },
  pingUrl: {
    flag: 'ping-url',
    env: ENV.pingUrl,
    type: 'string',
    secret: true,
    commands: NOTIFY,
    group: 'Notifications',
    help: "Dead man's switch, as healthchecks.io and similar services take it: <url>/start when the run starts, <url> when it succeeds, <url>/fail when it fails, with a body naming each database's outcome (exit word, stage, last line of the cause). The URL holds a token: it is never logged; prefer the variable (command lines are visible to other processes). A receiver that fails or hangs never fails the run.",
    defaultText: 'none',
  },
  webhookUrls: {
    flag: 'webhook-url',
    env: ENV.webhookUrls,
    type: 'list',
    separator: 'whitespace',
    secret: true,
    commands: NOTIFY,
    group: 'Notifications',
    help: 'POST one JSON document per database outcome: a `text` line for Slack, Mattermost or Teams incoming webhooks, and fields for machines (docs/cli.md, Notifications). Repeatable; the variable takes URLs separated by spaces or newlines. Never logged.',
    defaultText: 'none',
  },
  metricsFile: {
    flag: 'metrics-file',
    env: ENV.metricsFile,
    type: 'string',
    commands: NOTIFY,
    group: 'Notifications',
    help: "Prometheus textfile-collector file (*.prom, in node_exporter's --collector.textfile.directory), replaced atomically after each run: per database, last success and attempt times, exit code, duration, size, drill success. One file for every database: each run keeps the others' series.",
    defaultText: 'none',
  },
  notifyTimeoutSeconds: {
    flag: 'notify-timeout-seconds',
    env: ENV.notifyTimeoutSeconds,
    type: 'integer',
    min: 1,
    max: 15,
    commands: NOTIFY,
    group: 'Notifications',
    help: "Seconds each attempt of a ping or webhook may take; three attempts, then a warning. At most 15: the start ping and the closing ones then fit in the host unit's stop timeout (120 s).",
    default: 10,
  },
  pgBinDir: {
    flag: 'pg-bin-dir',
    env: ENV.pgBinDir,
    type: 'string',
    commands: ALL,
    group: 'Database',
    help: 'Directory holding pg_dump, pg_dumpall, pg_restore and psql.',
    defaultText: 'found on PATH',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

type Specs = typeof SETTINGS;

/** The type a setting parses to. */
type ValueOf<S> = S extends { type: 'integer' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'list' }
      ? readonly string[]
      : S extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : string;

/** Parsed settings, typed from the table: a setting with a `default` is always present. */
export type SettingValues = {
  readonly [K in SettingName]: Specs[K] extends { default: unknown } ? ValueOf<Specs[K]> : ValueOf<Specs[K]> | undefined;
};

/** How --help and docs/configuration.md show a setting's default ('' for none). */
export function defaultShown(spec: SettingSpec): string {
  return spec.defaultText ?? (spec.default === undefined ? '' : String(spec.default));
}
