// The public API, exported by name: the constructs, their props, their documented defaults and
// the project configuration. Everything else (the helpers in lib/private, the image's paths, the
// saved query, construct ID and validation helpers) is internal; tests import it by file path.

// Constructs and their props.
export { type AlarmSlackChannel, type AlarmTeamsChannel, AlarmTopic, type AlarmTopicProps, type AlarmWebhook } from './alarm-topic';
export { type IBackupSource } from './backup-source';
export { BackupStack, type BackupStackProps } from './backup-stack';
export { BackupMonitoring, type BackupMonitoringProps } from './dashboard';
export {
  DatabaseConnection,
  type DatabaseConnectionConfig,
  type RdsSecretOptions,
  type SslMode,
  type TlsOptions,
  type UrlSecretOptions,
} from './database-connection';
export {
  BACKUP_TASK_DEFAULTS,
  DEFAULT_BACKUP_SCHEDULE,
  DEFAULT_METRICS_NAMESPACE,
  PostgresBackup,
  type PostgresBackupProps,
} from './postgres-backup';
export { DEFAULT_DRILL_SCHEDULE, DRILL_DEFAULTS, RestoreDrill, type RestoreDrillOptions, type RestoreDrillProps } from './restore-drill';
export {
  RESTORE_TARGET_PLACEHOLDER,
  RESTORE_TASK_DEFAULTS,
  RestoreTask,
  type RestoreTaskOptions,
  type RestoreTaskProps,
} from './restore-task';

// The bucket's secure defaults and the images.
export {
  type BackupBucketOptions,
  type BackupBuckets,
  type BackupObjectLock,
  type BackupTransition,
  backupLifecycleRules,
  createBackupBuckets,
  DEFAULT_NONCURRENT_VERSION_DAYS,
  DEFAULT_RETENTION_DAYS,
  defaultAccessLogBucketProps,
  defaultBackupBucketProps,
  type RetentionTiers,
} from './bucket-defaults';
export { type BackupTaskImageOptions, backupTaskImage, DEFAULT_POSTGRES_MAJOR, drillServerImage, RDS_CA_BUNDLE_PATH } from './task-image';

// The project configuration (cdk.json "context").
export {
  type AlertsConfig,
  type BucketConfig,
  CONFIG_KEYS,
  type DatabaseConfig,
  DEFAULT_DRILL_SCHEDULE_EXPRESSION,
  DEFAULT_SCHEDULE,
  loadProjectConfig,
  MAX_DATABASES,
  parseProjectConfig,
  type ProjectConfig,
  ProjectConfigError,
  type SecretFormat,
  type SlackAlertsConfig,
  type TasksConfig,
  type TeamsAlertsConfig,
  type TransitionClass,
  type WebhookAlertsConfig,
} from './config';
