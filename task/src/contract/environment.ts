/**
 * The environment variables the CLI reads: the contract between the stack, which sets them
 * in each container, and the task, which parses them (config/settings.ts). Both sides use
 * these constants, so a name changed on one side fails to compile on the other.
 */
export const ENV = {
  // Where the backups are, and how metrics are named (every command).
  bucket: 'BACKUP_BUCKET',
  prefix: 'BACKUP_PREFIX',
  project: 'BACKUP_PROJECT',
  metricsNamespace: 'METRICS_NAMESPACE',
  logFormat: 'LOG_FORMAT',
  s3Endpoint: 'S3_ENDPOINT',
  region: 'AWS_REGION',
  s3MaxAttempts: 'S3_MAX_ATTEMPTS',
  s3TimeoutSeconds: 'S3_TIMEOUT_SECONDS',
  pgBinDir: 'PG_BIN_DIR',
  // The database (libpq's own variables, or a URL).
  databaseUrl: 'DATABASE_URL',
  host: 'PGHOST',
  port: 'PGPORT',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  passfile: 'PGPASSFILE',
  dbname: 'PGDATABASE',
  sslmode: 'PGSSLMODE',
  sslRootCert: 'PGSSLROOTCERT',
  // backup
  s3Checksum: 'BACKUP_S3_CHECKSUM',
  compress: 'BACKUP_COMPRESS',
  schema: 'BACKUP_SCHEMA',
  excludeSchema: 'BACKUP_EXCLUDE_SCHEMA',
  table: 'BACKUP_TABLE',
  excludeTable: 'BACKUP_EXCLUDE_TABLE',
  excludeTableData: 'BACKUP_EXCLUDE_TABLE_DATA',
  partSizeMib: 'BACKUP_PART_SIZE_MIB',
  queueSize: 'BACKUP_QUEUE_SIZE',
  memoryLimitMib: 'BACKUP_MEMORY_LIMIT_MIB',
  globals: 'BACKUP_GLOBALS',
  tier: 'BACKUP_TIER',
  backupJobs: 'BACKUP_JOBS',
  backupPieceMib: 'BACKUP_PIECE_MIB',
  backupStreamThreads: 'BACKUP_STREAM_THREADS',
  progressSeconds: 'BACKUP_PROGRESS_SECONDS',
  allDatabases: 'BACKUP_ALL_DATABASES',
  excludeDatabase: 'BACKUP_EXCLUDE_DATABASE',
  // backup and verify: where a run reports how it ended (pings, webhooks, a Prometheus file)
  pingUrl: 'BACKUP_PING_URL',
  webhookUrls: 'BACKUP_WEBHOOK_URLS',
  metricsFile: 'BACKUP_METRICS_FILE',
  notifyTimeoutSeconds: 'BACKUP_NOTIFY_TIMEOUT_SECONDS',
  // status
  maxAgeHours: 'STATUS_MAX_AGE_HOURS',
  // verify and restore
  key: 'BACKUP_KEY',
  target: 'RESTORE_TARGET_URL',
  restoreInto: 'VERIFY_RESTORE_INTO_URL',
  clean: 'RESTORE_CLEAN',
  jobs: 'RESTORE_JOBS',
  restoreTable: 'RESTORE_TABLE',
  noOwner: 'RESTORE_NO_OWNER',
  noAcl: 'RESTORE_NO_ACL',
  noDatabaseProperties: 'RESTORE_NO_DATABASE_PROPERTIES',
  tempDir: 'RESTORE_TEMP_DIR',
  /** Not a setting: where the OS temp directory is (the drill's and restore's downloads). */
  tmpdir: 'TMPDIR',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];
