/**
 * The CloudWatch metrics the task writes (Embedded Metric Format) and the stack alarms on and
 * graphs: names, dimensions and the default namespace.
 */
export const METRICS = {
  backupSuccess: 'BackupSuccess',
  backupFailure: 'BackupFailure',
  backupBytes: 'BackupBytes',
  backupDurationSeconds: 'BackupDurationSeconds',
  drillSuccess: 'DrillSuccess',
  drillFailure: 'DrillFailure',
  drillDurationSeconds: 'DrillDurationSeconds',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/** The namespace when none is configured (METRICS_NAMESPACE). */
export const DEFAULT_METRICS_NAMESPACE = 'PgS3Backup';

/** Dimensions of every metric: the project (when configured) and the database. */
export function metricDimensions(project: string | undefined, database: string): Record<string, string> {
  return project ? { Project: project, Database: database } : { Database: database };
}
