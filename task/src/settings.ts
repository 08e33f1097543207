/**
 * Every setting of the CLI in one table: its flag, its environment variable, its type and
 * default, which commands use it and its help text. `config.ts` parses and validates from
 * this table and `help.ts` renders `--help` from it, so the two cannot drift apart.
 */
export type CommandName = 'backup' | 'list' | 'verify' | 'restore';

export interface SettingSpec {
  /** Flag name without the leading dashes. */
  readonly flag: string;
  /** Environment variable read when the flag is absent. */
  readonly env?: string;
  readonly type: 'string' | 'integer' | 'boolean' | 'enum';
  /** Allowed values of an `enum` setting. */
  readonly values?: readonly string[];
  /** Inclusive bounds of an `integer` setting. */
  readonly min?: number;
  readonly max?: number;
  /** Shown in --help; `undefined` means "no default". */
  readonly defaultText?: string;
  readonly help: string;
  /** Commands that accept the setting. */
  readonly commands: readonly CommandName[];
  /** Help section. */
  readonly group: 'Database' | 'Storage' | 'Backup' | 'Which backup' | 'Restore and verify' | 'Output';
}

const ALL: readonly CommandName[] = ['backup', 'list', 'verify', 'restore'];
const DB: readonly CommandName[] = ['backup'];

export const SETTINGS = {
  databaseUrl: {
    flag: 'database-url', env: 'DATABASE_URL', type: 'string', commands: DB, group: 'Database',
    help: 'postgres://user:password@host:port/dbname?sslmode=… (as Heroku gives it), instead of the PG* settings. A password in the flag is refused (command lines are visible to other processes): set the variable.',
  },
  host: { flag: 'host', env: 'PGHOST', type: 'string', commands: DB, group: 'Database', help: 'Database server host (libpq PGHOST).', defaultText: "libpq's default (local socket)" },
  port: { flag: 'port', env: 'PGPORT', type: 'integer', min: 1, max: 65535, commands: DB, group: 'Database', help: 'Database server port.', defaultText: '5432' },
  user: { flag: 'user', env: 'PGUSER', type: 'string', commands: DB, group: 'Database', help: 'Database user.', defaultText: 'the OS user name' },
  dbname: { flag: 'dbname', env: 'PGDATABASE', type: 'string', commands: ['backup', 'list', 'verify', 'restore'], group: 'Database', help: 'backup: the database to back up (required). list/verify/restore: the database whose backups to read (required with --latest and for list).' },
  sslmode: {
    flag: 'sslmode', env: 'PGSSLMODE', type: 'enum', values: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'],
    commands: DB, group: 'Database', help: 'libpq SSL mode.', defaultText: 'prefer',
  },
  bucket: { flag: 'bucket', env: 'BACKUP_BUCKET', type: 'string', commands: ALL, group: 'Storage', help: 'S3 bucket that holds the backups. Required.' },
  prefix: { flag: 'prefix', env: 'BACKUP_PREFIX', type: 'string', commands: ALL, group: 'Storage', help: 'Key prefix; keys are <prefix>/<database>/<YYYYMMDDHHmm>.dump.', defaultText: 'none' },
  s3Endpoint: { flag: 's3-endpoint', env: 'S3_ENDPOINT', type: 'string', commands: ALL, group: 'Storage', help: 'Endpoint URL of an S3-compatible store (path-style addressing), e.g. http://127.0.0.1:4569.', defaultText: 'AWS S3' },
  region: { flag: 'region', env: 'AWS_REGION', type: 'string', commands: ALL, group: 'Storage', help: "AWS region (credentials come from the AWS SDK's default chain).", defaultText: "the SDK's chain; us-east-1 with --s3-endpoint" },
  s3MaxAttempts: { flag: 's3-max-attempts', env: 'S3_MAX_ATTEMPTS', type: 'integer', min: 1, max: 20, commands: ALL, group: 'Storage', help: 'Attempts per S3 request (transient errors: 5xx, throttling, resets).', defaultText: '6' },
  s3TimeoutSeconds: { flag: 's3-timeout-seconds', env: 'S3_TIMEOUT_SECONDS', type: 'integer', min: 1, max: 3600, commands: ALL, group: 'Storage', help: 'Seconds an S3 connection may be idle (or take to connect) before the attempt fails.', defaultText: '60' },
  s3Checksum: {
    flag: 's3-checksum', env: 'BACKUP_S3_CHECKSUM', type: 'enum', values: ['SHA256', 'CRC32', 'CRC32C', 'none'], commands: ['backup'], group: 'Storage',
    help: 'S3 additional checksum the store verifies for every part; "none" for stores that reject checksum headers.', defaultText: 'SHA256',
  },
  compress: { flag: 'compress', env: 'BACKUP_COMPRESS', type: 'string', commands: ['backup'], group: 'Backup', help: "pg_dump compression, passed as -Z: a gzip level 0-9, or gzip:N, lz4[:N], zstd[:N] (lz4/zstd need pg_dump 16+).", defaultText: "pg_dump's default (gzip level 6)" },
  partSizeMib: { flag: 'part-size-mib', env: 'BACKUP_PART_SIZE_MIB', type: 'integer', min: 5, max: 5120, commands: ['backup'], group: 'Backup', help: 'Multipart part size. Overrides sizing from pg_database_size().', defaultText: 'max(8, database size x 1.2 / 10,000) MiB' },
  queueSize: { flag: 'queue-size', env: 'BACKUP_QUEUE_SIZE', type: 'integer', min: 1, max: 32, commands: ['backup'], group: 'Backup', help: 'Parts uploaded concurrently. Memory is about (queue size + 2) x part size.', defaultText: '4' },
  memoryLimitMib: { flag: 'memory-limit-mib', env: 'BACKUP_MEMORY_LIMIT_MIB', type: 'integer', min: 64, commands: ['backup'], group: 'Backup', help: 'Memory the upload buffers must fit in; the run refuses up front when they cannot.', defaultText: "the container's cgroup limit, if any" },
  globals: {
    flag: 'globals', env: 'BACKUP_GLOBALS', type: 'boolean', commands: ['backup', 'restore'], group: 'Backup',
    help: 'backup: also store roles and tablespaces (pg_dumpall --globals-only) beside the dump. restore: apply the stored roles before the restore.', defaultText: 'false',
  },
  key: { flag: 'key', env: 'BACKUP_KEY', type: 'string', commands: ['verify', 'restore'], group: 'Which backup', help: 'Key of the dump to use (as printed by list), e.g. myapp/app/202611240400.dump.' },
  latest: { flag: 'latest', type: 'boolean', commands: ['verify', 'restore'], group: 'Which backup', help: 'Use the newest complete backup (dump and manifest) of --dbname.' },
  json: { flag: 'json', type: 'boolean', commands: ['list'], group: 'Output', help: 'Print the list as JSON, for scripts.' },
  target: {
    flag: 'target', env: 'RESTORE_TARGET_URL', type: 'string', commands: ['restore'], group: 'Restore and verify',
    help: 'postgres:// URL of the database to restore into; created if it does not exist. Keep the password out of the flag: use the variable, PGPASSWORD or a PGPASSFILE.',
  },
  restoreInto: {
    flag: 'restore-into', env: 'VERIFY_RESTORE_INTO_URL', type: 'string', commands: ['verify'], group: 'Restore and verify',
    help: 'Also restore into this scratch database (postgres:// URL; empty or new) and report what was restored.',
  },
  clean: { flag: 'clean', env: 'RESTORE_CLEAN', type: 'boolean', commands: ['restore'], group: 'Restore and verify', help: 'Drop and recreate objects that exist in the target (otherwise a target holding tables is refused).', defaultText: 'false' },
  jobs: { flag: 'jobs', env: 'RESTORE_JOBS', type: 'integer', min: 1, max: 64, commands: ['restore'], group: 'Restore and verify', help: 'Parallel pg_restore jobs; above 1 the target must be a new database (see README).', defaultText: '1' },
  noOwner: { flag: 'no-owner', env: 'RESTORE_NO_OWNER', type: 'boolean', commands: ['verify', 'restore'], group: 'Restore and verify', help: 'Do not restore object ownership (for a target with different roles, e.g. RDS).', defaultText: 'false' },
  noAcl: { flag: 'no-acl', env: 'RESTORE_NO_ACL', type: 'boolean', commands: ['verify', 'restore'], group: 'Restore and verify', help: 'Do not restore privileges (GRANT/REVOKE).', defaultText: 'false' },
  tempDir: { flag: 'temp-dir', env: 'RESTORE_TEMP_DIR', type: 'string', commands: ['restore'], group: 'Restore and verify', help: 'Where restore downloads the archive before applying it (needs the archive size free).', defaultText: 'the OS temp directory' },
  tier: { flag: 'tier', env: 'BACKUP_TIER', type: 'enum', values: ['auto', 'daily', 'weekly', 'monthly'], commands: ['backup'], group: 'Backup', help: 'Retention tier tag. auto: monthly on the 1st (UTC), weekly on Sundays, daily otherwise.', defaultText: 'auto' },
  project: { flag: 'project', env: 'BACKUP_PROJECT', type: 'string', commands: ALL, group: 'Output', help: 'Project name, added as a metrics dimension.', defaultText: 'none' },
  metricsNamespace: { flag: 'metrics-namespace', env: 'METRICS_NAMESPACE', type: 'string', commands: ALL, group: 'Output', help: 'CloudWatch namespace of the Embedded Metric Format lines.', defaultText: 'PgS3Backup' },
  logFormat: { flag: 'log-format', env: 'LOG_FORMAT', type: 'enum', values: ['auto', 'json', 'text'], commands: ALL, group: 'Output', help: 'json: one JSON object per line (CloudWatch). text: for people. auto: text on a terminal.', defaultText: 'auto' },
  progressSeconds: { flag: 'progress-seconds', env: 'BACKUP_PROGRESS_SECONDS', type: 'integer', min: 1, max: 3600, commands: ['backup', 'verify', 'restore'], group: 'Output', help: 'Seconds between progress lines.', defaultText: '30' },
  pgBinDir: { flag: 'pg-bin-dir', env: 'PG_BIN_DIR', type: 'string', commands: ALL, group: 'Database', help: 'Directory holding pg_dump, pg_dumpall, pg_restore and psql.', defaultText: 'found on PATH' },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;
