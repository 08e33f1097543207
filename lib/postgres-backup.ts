import { Annotations, CfnOutput, Duration, Token } from 'aws-cdk-lib';
import { IBackupSource } from './backup-source';
import { scheduleCliTask } from './private/scheduled-task';
import { integerProblems, throwIfProblems } from './private/validation';
import { DEFAULT_LOG_RETENTION, sharedResources } from './private/shared-resources';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { addCliContainer, cliTaskDefinition } from './private/cli-container';
import {
  CHILD_PROCESS_RESERVE_MIB,
  databaseFolder,
  DEFAULT_METRICS_NAMESPACE,
  ENV,
  METRICS,
  metricDimensions,
  prefixProblems,
  trimPrefix,
} from '../task/src/contract';
import { DumpSelection, normalizeSelection, patternProblems, selectionFlags, selectionProblems } from '../task/src/contract';
import { missedBackupAlarm } from './private/alarms';
import { BackupBucketOptions, createBackupBuckets } from './bucket-defaults';
import { DatabaseConnection } from './database-connection';
import { backupMemoryForJobs, jobsSizeProblems, MAX_JOBS, taskSizeFor, taskSizeProblems } from './private/fargate-size';
import {
  grantStatements,
  readerStatements,
  secretKeyStatements,
  writerEnforcementStatements,
  BACKUP_WRITER_ROLE_PATH,
  writerStatements,
} from './private/permissions';
import { RestoreDrill, RestoreDrillOptions } from './restore-drill';
import { RestoreTask, RestoreTaskOptions, restoreTaskProblems } from './restore-task';
import { acknowledgeExecutionRole, acknowledgeFolderWildcard, acknowledgeTaskDefinition } from './private/acknowledgements';
import { runTaskCommand } from './private/run-task-command';
import { TaskFailureRules, taskGroup } from './private/task-failure-rules';
import { backupTaskImage, DEFAULT_POSTGRES_MAJOR } from './task-image';

/** The default schedule: every day at 04:00 UTC. */
export const DEFAULT_BACKUP_SCHEDULE = scheduler.ScheduleExpression.cron({ minute: '0', hour: '4' });

/** The CloudWatch namespace the task writes its Embedded Metric Format metrics to. */
export { DEFAULT_METRICS_NAMESPACE } from '../task/src/contract';

/** The defaults of {@link PostgresBackupProps} (the project configuration leaves them to this construct). */
export const BACKUP_TASK_DEFAULTS = {
  cpu: 1024,
  memoryLimitMiB: 2048,
  missedBackupAlarmHours: 26,
  globals: true,
  logRetention: DEFAULT_LOG_RETENTION,
} as const;

/** Props of {@link PostgresBackup}. */
export interface PostgresBackupProps {
  /** The VPC the task runs in: one that can reach the database. */
  readonly vpc: ec2.IVpc;

  /**
   * Subnets for the task. They need a route to S3, ECR, CloudWatch Logs and Secrets
   * Manager (a NAT gateway, or VPC endpoints).
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /** How to connect: `DatabaseConnection.fromRdsSecret(secret)` or `.fromUrlSecret(secret)`. */
  readonly connection: DatabaseConnection;

  /**
   * The PostgreSQL database to back up. It names the key folder
   * (`<prefix>/<databaseName>/`), the metric dimension `Database`, and the database the
   * restore drill looks for. With a URL secret it must be the database the URL names.
   */
  readonly databaseName: string;

  /**
   * The database's security group: an ingress rule from the task's security group is added
   * to it on `databasePort`.
   * @default - no rule is added (open the database to the task yourself)
   */
  readonly databaseSecurityGroup?: ec2.ISecurityGroup;

  /** Port for the ingress rule on `databaseSecurityGroup`. @default 5432 */
  readonly databasePort?: number;

  /**
   * The bucket that holds the backups. A bucket passed in keeps its own configuration
   * (use `defaultBackupBucketProps()` for the secure defaults); its `encryptionKey`, if any,
   * is granted to the task.
   * @default - a new bucket with `defaultBackupBucketProps(bucketOptions)` and an access-log bucket
   */
  readonly bucket?: s3.IBucket;

  /** Settings of the bucket created when `bucket` is not given. @default - see `BackupBucketOptions` */
  readonly bucketOptions?: BackupBucketOptions;

  /**
   * Key prefix; keys are `<prefix>/<databaseName>/<YYYYMMDDHHmm>.dump`. The task may write
   * only under `<prefix>/<databaseName>/`.
   * @default - no prefix
   */
  readonly prefix?: string;

  /** Project name: the metric dimension `Project` (BACKUP_PROJECT). @default - no Project dimension */
  readonly project?: string;

  /** When to back up (UTC unless the expression says otherwise). @default cron(0 4 * * ? *) */
  readonly schedule?: scheduler.ScheduleExpression;

  /** Whether the schedule is enabled. @default true */
  readonly scheduleEnabled?: boolean;

  /**
   * Scheduler retries when RunTask itself fails (throttling, no capacity). A task that
   * starts and then fails is not retried; it alerts.
   * @default 2
   */
  readonly retryAttempts?: number;

  /** How long the scheduler keeps retrying an invocation. @default Duration.hours(1) */
  readonly maxEventAge?: Duration;

  /** Where the scheduler puts invocations it could not deliver. @default - a new encrypted, TLS-only queue with an alarm */
  readonly deadLetterQueue?: sqs.IQueue;

  /** @default - a new cluster in `vpc` */
  readonly cluster?: ecs.ICluster;

  /** The task image. @default - built from task/Dockerfile (`backupTaskImage()`) */
  readonly image?: ecs.ContainerImage;

  /** PostgreSQL major of the image's client and of the drill's scratch server. @default 18 */
  readonly postgresMajorVersion?: number;

  /**
   * Streams at once (BACKUP_JOBS), 1-16. Above 1 the backup is parallel: every piece read under
   * one snapshot, a manifest listing them all (docs/performance.md). It also sizes the tasks
   * whose `cpu` and memory are left out: a vCPU per stream (Fargate's next CPU value), and memory
   * for the streams' upload buffers as the CLI reckons them; the drill and the restore task get
   * the same size rule and RESTORE_JOBS of the same value. Not with a `selection`.
   * @default 1
   */
  readonly jobs?: number;

  /**
   * Task CPU units. pg_dump compresses on one core, so one vCPU is what a one-stream backup uses.
   * Given explicitly, it must give each of `jobs` streams a vCPU.
   * @default - 1024, or a vCPU per stream of `jobs` (Fargate's next CPU value) when memoryLimitMiB is not given either
   */
  readonly cpu?: number;

  /**
   * Task memory; BACKUP_MEMORY_LIMIT_MIB is this minus 256 MiB kept for pg_dump. Given
   * explicitly, it must hold what the backup's memory check demands of `jobs` streams.
   * @default - 2048, or with `jobs` above 1 and no `cpu`, the smallest memory Fargate accepts with the sized CPU that holds the streams' upload buffers
   */
  readonly memoryLimitMiB?: number;

  /** @default ecs.CpuArchitecture.X86_64 */
  readonly cpuArchitecture?: ecs.CpuArchitecture;

  /**
   * How long ECS waits after SIGTERM before SIGKILL. The task aborts an unfinished upload
   * within about 20 s, and finishes the upload and manifest when pg_dump had already ended.
   * @default Duration.seconds(120) - Fargate's maximum
   */
  readonly stopTimeout?: Duration;

  /** pg_dump compression (BACKUP_COMPRESS), e.g. `zstd:3`. @default - zstd:1 with the image's PostgreSQL 18 client (the task's default for pg_dump 16+) */
  readonly compress?: string;

  /**
   * What to dump, as pg_dump patterns: given to the task as one `--schema=…`, `--table=…`…
   * argument each (no shell, no splitting), so a pattern may hold commas or spaces.
   * @default - the whole database
   */
  readonly selection?: DumpSelection;

  /** Also store roles and tablespaces (pg_dumpall --globals-only). @default true */
  readonly globals?: boolean;

  /** @default - a new log group with `logRetention` */
  readonly logGroup?: logs.ILogGroup;

  /** Retention of the log group created when `logGroup` is not given. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;

  /** Where alerts go. @default - a new encrypted, TLS-only topic (`AlarmTopic`) */
  readonly alarmTopic?: sns.ITopic;

  /** Subscribed to the topic created when `alarmTopic` is not given. @default - no subscription */
  readonly alarmEmail?: string;

  /** CloudWatch namespace of the task's metrics (METRICS_NAMESPACE). @default 'PgS3Backup' */
  readonly metricsNamespace?: string;

  /** Hours without a successful backup before the missed-backup alarm fires (1-168). @default 26 */
  readonly missedBackupAlarmHours?: number;

  /** The scheduled restore drill. @default - a weekly drill (Mondays 06:00 UTC) */
  readonly drill?: RestoreDrillOptions;

  /**
   * The on-demand restore task (`RestoreTask`): restores the latest backup (or, with a
   * command override, any backup) into the database a secret names, e.g. a new RDS instance.
   * @default - a restore task with 1024 CPU, 2048 MiB (sized for `jobs` above 1) and 50 GiB of task storage
   */
  readonly restoreTask?: RestoreTaskOptions;

  /** Add stack outputs (run-task commands, the restore target secret and security group). @default true */
  readonly outputs?: boolean;
}

/**
 * Scheduled, alerting pg_dump backups of one PostgreSQL database to S3, a scheduled
 * restore drill that proves the latest backup restores, and an on-demand restore task
 * (`restoreTask`) that restores a backup into a new database, e.g. a new RDS instance.
 *
 * EventBridge Scheduler starts a Fargate task (`backup`) in the VPC; it streams pg_dump
 * into the bucket under `<prefix>/<databaseName>/`, with a role that can create objects
 * there and nothing else. Task failures, failures to start, scheduler dead letters, a
 * missing daily success, a failed or overdue drill and a failed restore each alert on the topic.
 */
export class PostgresBackup extends Construct implements IBackupSource {
  /** The bucket holding the backups. */
  public readonly bucket: s3.IBucket;
  /** The bucket receiving server access logs, when this construct created the backup bucket. */
  public readonly accessLogsBucket?: s3.IBucket;
  /** The backup task definition. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The backup container. */
  public readonly container: ecs.ContainerDefinition;
  /** The daily schedule. */
  public readonly schedule: scheduler.Schedule;
  /** The log group of the backup, drill and restore tasks. */
  public readonly logGroup: logs.ILogGroup;
  /** The topic that receives every alert. */
  public readonly alarmTopic: sns.ITopic;
  /** The cluster the tasks run in. */
  public readonly cluster: ecs.ICluster;
  /** The task's security group (outbound only). */
  public readonly securityGroup: ec2.SecurityGroup;
  /** The scheduler's dead-letter queue. */
  public readonly deadLetterQueue: sqs.IQueue;
  /** The task image. */
  public readonly image: ecs.ContainerImage;
  /** The missed-backup alarm. */
  public readonly missedBackupAlarm: cloudwatch.Alarm;
  /** The restore drill, unless disabled. */
  public readonly drill?: RestoreDrill;
  /** The on-demand restore task, unless disabled. */
  public readonly restoreTask?: RestoreTask;
  /** The database backed up. */
  public readonly databaseName: string;
  /** The key folder of this database's backups, ending in '/'. */
  public readonly folder: string;
  /** The normalized key prefix, if any (BACKUP_PREFIX). */
  public readonly prefix?: string;
  /** The subnets the tasks run in. */
  public readonly subnets: ec2.SelectedSubnets;
  /** `aws ecs run-task …` that starts a backup now. */
  public readonly backupNowCommand: string;

  private readonly metricsNamespace: string;
  private readonly project?: string;

  constructor(scope: Construct, id: string, props: PostgresBackupProps) {
    super(scope, id);
    validateProps(props);

    this.databaseName = props.databaseName;
    this.prefix = trimPrefix(props.prefix) || undefined;
    this.folder = databaseFolder(this.prefix, props.databaseName);
    this.metricsNamespace = props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE;
    this.project = props.project;
    const settings = backupSettings(props);

    const buckets = this.backupBuckets(props);
    this.bucket = buckets.bucket;
    this.accessLogsBucket = buckets.accessLogsBucket;
    const shared = sharedResources(this, {
      ids: { alarmTopic: 'AlarmTopic', deadLetterQueue: 'DeadLetterQueue', deadLetterAlarm: 'DeadLetterAlarm' },
      vpc: props.vpc,
      alarmTopic: props.alarmTopic,
      alarmEmail: props.alarmEmail,
      logGroup: props.logGroup,
      logRetention: props.logRetention,
      cluster: props.cluster,
      deadLetterQueue: props.deadLetterQueue,
    });
    this.alarmTopic = shared.alarmTopic;
    this.logGroup = shared.logGroup;
    this.cluster = shared.cluster;
    this.deadLetterQueue = shared.deadLetterQueue;
    this.image =
      props.image ?? backupTaskImage({ postgresMajorVersion: settings.postgresMajorVersion, cpuArchitecture: settings.cpuArchitecture });
    this.subnets = props.vpc.selectSubnets(props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });

    this.securityGroup = this.createSecurityGroup(props, settings.what);
    const task = this.createBackupTask(props, settings);
    this.taskDefinition = task.taskDefinition;
    this.container = task.container;
    this.schedule = this.scheduleBackups(props, settings.what);
    this.missedBackupAlarm = this.addAlerts(props, settings.what);
    this.backupNowCommand = runTaskCommand(
      this.cluster,
      this.taskDefinition.family,
      taskGroup('backup', props.databaseName),
      this.subnets,
      this.securityGroup,
    );

    if (props.drill?.enabled !== false) this.drill = this.createDrill(props, settings);
    if (props.restoreTask?.enabled !== false) this.restoreTask = this.createRestoreTask(props, settings);
    if (props.outputs !== false) this.addOutputs(settings);
  }

  /** The bucket given, or a new one with its access-log bucket (bucketOptions apply only to that). */
  private backupBuckets(props: PostgresBackupProps): { bucket: s3.IBucket; accessLogsBucket?: s3.IBucket } {
    if (!props.bucket) return createBackupBuckets(this, props.bucketOptions);
    if (props.bucketOptions) {
      Annotations.of(this).addWarningV2(
        'pg-s3-backup:bucketOptionsIgnored',
        'bucketOptions apply only to a bucket this construct creates; they are ignored because bucket was given.',
      );
    }
    return { bucket: props.bucket };
  }

  /** The task's security group (outbound only), and the database's ingress rule from it when that group is given. */
  private createSecurityGroup(props: PostgresBackupProps, what: string): ec2.SecurityGroup {
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `${what}: outbound to the database, S3, ECR, CloudWatch Logs and Secrets Manager`,
      allowAllOutbound: true,
    });
    if (props.databaseSecurityGroup) {
      props.databaseSecurityGroup.addIngressRule(securityGroup, ec2.Port.tcp(props.databasePort ?? 5432), `${what} (pg-s3-backup task)`);
    }
    return securityGroup;
  }

  /**
   * The task definition: one container running `backup`, with the connection injected by
   * ECS from Secrets Manager and a task role that can only create objects in its folder.
   */
  private createBackupTask(
    props: PostgresBackupProps,
    settings: BackupSettings,
  ): { taskDefinition: ecs.FargateTaskDefinition; container: ecs.ContainerDefinition } {
    const { cpu, memoryLimitMiB, cpuArchitecture } = settings;
    const taskDefinition = cliTaskDefinition(this, { familySuffix: 'backup', cpu, memoryLimitMiB, cpuArchitecture });
    const connection = props.connection.bind(props.databaseName);
    const container = addCliContainer(this, taskDefinition, 'backup', {
      image: this.image,
      command: ['backup', ...selectionFlags(props.selection)],
      environment: {
        ...connection.environment,
        ...this.storageEnvironment(),
        [ENV.memoryLimitMib]: String(memoryLimitMiB - CHILD_PROCESS_RESERVE_MIB),
        // One stream is the CLI's default: a template without jobs stays as it was.
        ...(settings.jobs > 1 ? { [ENV.backupJobs]: String(settings.jobs) } : {}),
        [ENV.globals]: String(props.globals ?? BACKUP_TASK_DEFAULTS.globals),
        ...(props.compress !== undefined ? { [ENV.compress]: props.compress } : {}),
      },
      secrets: connection.secrets,
      logGroup: this.logGroup,
      streamPrefix: `backup-${props.databaseName}`,
      stopTimeout: props.stopTimeout ?? Duration.seconds(120),
    });
    for (const statement of writerStatements({ bucket: this.bucket, folder: this.folder })) taskDefinition.addToTaskRolePolicy(statement);
    for (const statement of secretKeyStatements(props.connection.secret)) taskDefinition.addToExecutionRolePolicy(statement);
    this.enforceCreateOnly(taskDefinition);
    acknowledgeTaskDefinition(taskDefinition, 'the backup task');
    acknowledgeExecutionRole(taskDefinition);
    acknowledgeFolderWildcard(
      taskDefinition.taskRole,
      this.bucket,
      this.folder,
      'create backup objects (PutObject, PutObjectTagging, AbortMultipartUpload)',
    );
    return { taskDefinition, container };
  }

  /** Scheduling: EventBridge Scheduler with retries and the dead-letter queue. */
  private scheduleBackups(props: PostgresBackupProps, what: string): scheduler.Schedule {
    return scheduleCliTask(this, {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      securityGroup: this.securityGroup,
      vpcSubnets: props.vpcSubnets,
      schedule: props.schedule ?? DEFAULT_BACKUP_SCHEDULE,
      enabled: props.scheduleEnabled ?? true,
      description: `${what} (pg-s3-backup)`,
      group: taskGroup('backup', props.databaseName),
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      deadLetterQueue: this.deadLetterQueue,
    });
  }

  /** Alerts: the cluster's task failure rules (one set per cluster) and the missed-backup alarm (returned). */
  private addAlerts(props: PostgresBackupProps, what: string): cloudwatch.Alarm {
    TaskFailureRules.of(this.cluster, this.alarmTopic);
    return missedBackupAlarm(this, 'MissedBackupAlarm', {
      successMetric: this.metricBackupSuccess(),
      hours: props.missedBackupAlarmHours ?? BACKUP_TASK_DEFAULTS.missedBackupAlarmHours,
      topic: this.alarmTopic,
      what,
    });
  }

  private createDrill(props: PostgresBackupProps, settings: BackupSettings): RestoreDrill {
    return new RestoreDrill(this, 'Drill', {
      ...props.drill,
      backup: this,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      postgresMajorVersion: settings.postgresMajorVersion,
      cpuArchitecture: settings.cpuArchitecture,
      jobs: settings.jobs,
      what: settings.what,
    });
  }

  private createRestoreTask(props: PostgresBackupProps, settings: BackupSettings): RestoreTask {
    return new RestoreTask(this, 'Restore', {
      ...props.restoreTask,
      backup: this,
      vpc: props.vpc,
      cpuArchitecture: settings.cpuArchitecture,
      jobs: settings.jobs,
      what: `Restore of ${settings.subject}`,
    });
  }

  /** Stack outputs: the run-now commands, and the restore target secret and security group. */
  private addOutputs({ subject, what }: BackupSettings): void {
    new CfnOutput(this, 'BackupNowCommand', { description: `${what}: run a backup now`, value: this.backupNowCommand });
    if (this.drill)
      new CfnOutput(this, 'DrillNowCommand', { description: `${what}: run a restore drill now`, value: this.drill.drillNowCommand });
    if (this.restoreTask) {
      const restore = this.restoreTask;
      new CfnOutput(this, 'RestoreNowCommand', {
        description: `Restore of ${subject}: restore the latest backup into the database named by RestoreTargetSecretArn (set that secret first)`,
        value: restore.restoreNowCommand,
      });
      new CfnOutput(this, 'RestoreTargetSecretArn', {
        description: `Restore of ${subject}: secret holding the postgres:// URL of the database to restore into`,
        value: restore.targetSecret.secretArn,
      });
      new CfnOutput(this, 'RestoreSecurityGroupId', {
        description: `Restore of ${subject}: security group of the restore task; allow it on the target's port`,
        value: restore.securityGroup.securityGroupId,
      });
    }
  }

  /**
   * The bucket policy holds the writer role to creating new objects (see
   * `writerEnforcementStatements`): this, not the role's own policy, is what keeps a
   * compromised task from overwriting or re-tagging history when Object Lock is off. A bucket
   * imported by name has no policy this stack can change: a warning says so.
   */
  private enforceCreateOnly(taskDefinition: ecs.FargateTaskDefinition): void {
    // The rules name the writer by its role's path (one pair for every database of the bucket).
    (taskDefinition.taskRole.node.defaultChild as iam.CfnRole).path = BACKUP_WRITER_ROLE_PATH;
    const added = writerEnforcementStatements(this.bucket).map((s) => this.bucket.addToResourcePolicy(s).statementAdded);
    if (added.includes(false)) {
      Annotations.of(this).addWarningV2(
        'pg-s3-backup:createOnlyNotEnforced',
        `The bucket ${this.bucket.node.path} is imported, so its bucket policy cannot be extended: nothing but the task role's own policy keeps the backup task from overwriting ` +
          'an existing backup (a new version) or re-tagging it. Add to that bucket policy the two Deny statements of writerEnforcementStatements() (they name the backup task roles by their path, /pg-s3-backup/backup-writer/), or turn on Object Lock.',
      );
    }
  }

  /** Environment the backup, drill and restore tasks share: where backups are and how metrics are named. */
  public storageEnvironment(): Record<string, string> {
    return {
      [ENV.bucket]: this.bucket.bucketName,
      ...(this.prefix ? { [ENV.prefix]: this.prefix } : {}),
      ...(this.project ? { [ENV.project]: this.project } : {}),
      [ENV.metricsNamespace]: this.metricsNamespace,
    };
  }

  /**
   * Grants read-only access to this database's backups: list the folder, get objects and
   * their tags, decrypt with the bucket's key. What `list`, `verify` and `restore` need;
   * nothing that writes or deletes.
   */
  public grantRestore(grantee: iam.IGrantable): iam.Grant {
    return grantStatements(grantee, readerStatements({ bucket: this.bucket, folder: this.folder }));
  }

  /** The metric dimensions the task writes: `{Project, Database}` or `{Database}`. */
  public get metricDimensions(): Record<string, string> {
    return metricDimensions(this.project, this.databaseName);
  }

  /**
   * A metric the task emits for this database.
   * @default - Sum over 1 hour
   */
  public metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName,
      dimensionsMap: this.metricDimensions,
      statistic: cloudwatch.Stats.SUM,
      period: Duration.hours(1),
      ...props,
    });
  }

  /** 1 per successful backup (0 on failure). @default - Sum over 1 hour */
  public metricBackupSuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.backupSuccess, props);
  }

  /** 1 per failed backup that could report (0 on success). @default - Sum over 1 hour */
  public metricBackupFailure(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.backupFailure, props);
  }

  /** Size of the stored dump. @default - Maximum over 1 day */
  public metricBackupBytes(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.backupBytes, { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.days(1), ...props });
  }

  /** Wall-clock duration of a backup. @default - Maximum over 1 day */
  public metricBackupDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.backupDurationSeconds, { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.days(1), ...props });
  }

  /** 1 per successful restore drill. @default - Sum over 1 day */
  public metricDrillSuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.drillSuccess, { period: Duration.days(1), ...props });
  }

  /** 1 per failed restore drill. @default - Sum over 1 day */
  public metricDrillFailure(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.drillFailure, { period: Duration.days(1), ...props });
  }

  /** Duration of a restore drill. @default - Maximum over 1 day */
  public metricDrillDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.drillDurationSeconds, { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.days(1), ...props });
  }
}

/** The settings a backup's parts share, with the defaults applied, and the words that name it in descriptions. */
interface BackupSettings {
  readonly jobs: number;
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  readonly cpuArchitecture: ecs.CpuArchitecture;
  readonly postgresMajorVersion: number;
  /** `<project>/<databaseName>`, or the database name alone. */
  readonly subject: string;
  /** `Backup of <subject>`. */
  readonly what: string;
}

function backupSettings(props: PostgresBackupProps): BackupSettings {
  const subject = `${props.project ? `${props.project}/` : ''}${props.databaseName}`;
  const jobs = props.jobs ?? 1;
  return {
    jobs,
    ...taskSizeFor(jobs, { cpu: props.cpu, memory: props.memoryLimitMiB }, BACKUP_TASK_DEFAULTS, backupMemoryForJobs(jobs)),
    cpuArchitecture: props.cpuArchitecture ?? ecs.CpuArchitecture.X86_64,
    postgresMajorVersion: props.postgresMajorVersion ?? DEFAULT_POSTGRES_MAJOR,
    subject,
    what: `Backup of ${subject}`,
  };
}

/** Every problem of the props, thrown together (see `throwIfProblems`). */
function validateProps(props: PostgresBackupProps): void {
  throwIfProblems('PostgresBackup', [
    ...databaseNameProblems(props.databaseName),
    ...(props.prefix !== undefined && !Token.isUnresolved(props.prefix) ? prefixProblems(props.prefix, 'prefix') : []),
    ...taskSizeProblems('', { cpu: props.cpu, memory: props.memoryLimitMiB }, BACKUP_TASK_DEFAULTS),
    ...jobsProblems(props),
    ...patternProblems(props.selection, (f) => `selection.${f}`),
    ...selectionProblems(props.selection, (f) => `selection.${f}`),
    ...stopTimeoutProblems(props.stopTimeout),
    ...integerProblems(
      'missedBackupAlarmHours',
      props.missedBackupAlarmHours,
      1,
      168,
      ' (CloudWatch evaluates at most 7 days)',
      'Use 26 for a daily backup.',
    ),
    ...integerProblems('retryAttempts', props.retryAttempts, 0, 185, " (EventBridge Scheduler's limit)"),
    ...restoreTaskProblems(props.restoreTask ?? {}, props.jobs),
    ...postgresMajorProblems(props.postgresMajorVersion),
    ...givenResourceProblems(props),
  ]);
}

/** `jobs`: its range, what a parallel backup cannot take (a selection), and an explicit size too small for it. */
function jobsProblems(props: PostgresBackupProps): string[] {
  const { jobs } = props;
  const range = integerProblems('jobs', jobs, 1, MAX_JOBS, " (a vCPU per stream, up to Fargate's 16)", 'Leave it out for one stream.');
  if (range.length > 0 || jobs === undefined || Token.isUnresolved(jobs)) return range;
  return [
    ...(jobs > 1 && normalizeSelection(props.selection)
      ? [`jobs ${jobs} takes the whole database in pieces; a selection (schemas, tables…) is one stream. Leave out one or the other.`]
      : []),
    ...jobsSizeProblems('', jobs, { cpu: props.cpu, memory: props.memoryLimitMiB }, BACKUP_TASK_DEFAULTS, {
      neededMiB: backupMemoryForJobs(jobs),
      minimumMiB: backupMemoryForJobs(jobs, 1),
    }),
  ];
}

function databaseNameProblems(name: string): string[] {
  if (Token.isUnresolved(name) || !(typeof name !== 'string' || name.trim() === '' || name.length > 63)) return [];
  return [
    `databaseName must be a PostgreSQL database name of 1-63 characters, got ${JSON.stringify(name)}. Set it to the database pg_dump should dump.`,
  ];
}

function stopTimeoutProblems(stop: Duration | undefined): string[] {
  if (stop === undefined || Token.isUnresolved(stop.toSeconds()) || !(stop.toSeconds() < 2 || stop.toSeconds() > 120)) return [];
  return [`stopTimeout must be 2-120 seconds (Fargate's limit), got ${stop.toSeconds()} s. Leave it unset for 120 s.`];
}

function postgresMajorProblems(major: number | undefined): string[] {
  if (major === undefined || Token.isUnresolved(major) || !(!Number.isInteger(major) || major < 10 || major > 99)) return [];
  return [
    `postgresMajorVersion must be a PostgreSQL major version such as 17 or 18, got ${major}. Use at least the newest server version you back up.`,
  ];
}

/** Settings that apply only to a resource this construct creates, given with that resource. */
function givenResourceProblems(props: PostgresBackupProps): string[] {
  const problems: string[] = [];
  if (props.bucket && props.bucketOptions?.objectLock) {
    problems.push(
      'bucketOptions.objectLock applies only to a bucket this construct creates, but bucket was given. Turn on Object Lock on that bucket yourself, or leave out bucket.',
    );
  }
  if (props.alarmTopic && props.alarmEmail) {
    problems.push(
      'alarmEmail applies only to a topic this construct creates, but alarmTopic was given. Subscribe the address to that topic yourself, or leave out alarmTopic.',
    );
  }
  return problems;
}
