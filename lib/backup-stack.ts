import { Annotations, CfnOutput, Duration, NestedStack, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledgeOperatorPolicy } from './private/acknowledgements';
import { operatorKeyPatterns, operatorReadStatements } from './private/permissions';
import { SharedResources, sharedResources } from './private/shared-resources';
import { BackupBucketOptions, createBackupBuckets } from './bucket-defaults';
import { DatabaseConfig, ProjectConfig, TransitionClass } from './config';
import { BackupMonitoring } from './dashboard';
import { DatabaseConnection } from './database-connection';
import { DEFAULT_BACKUP_SCHEDULE, PostgresBackup, PostgresBackupProps } from './postgres-backup';
import { backupTaskImage } from './task-image';

/** Props of {@link BackupStack}. */
export interface BackupStackProps extends StackProps {
  /** The validated project configuration (`loadProjectConfig`). */
  readonly config: ProjectConfig;
}

const STORAGE_CLASSES: Record<TransitionClass, s3.StorageClass> = {
  STANDARD_IA: s3.StorageClass.INFREQUENT_ACCESS,
  ONEZONE_IA: s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS,
  INTELLIGENT_TIERING: s3.StorageClass.INTELLIGENT_TIERING,
  GLACIER_IR: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
  GLACIER: s3.StorageClass.GLACIER,
  DEEP_ARCHIVE: s3.StorageClass.DEEP_ARCHIVE,
};

/**
 * One project's backups: a bucket, an alert topic, a log group, a cluster, one image, and a
 * `PostgresBackup` (schedule, task, alarms, drill, restore task) per configured database, with a
 * dashboard and a saved query over all of them.
 */
export class BackupStack extends Stack {
  public readonly backups: PostgresBackup[];
  /** The nested stack of each database, in the order of `backups`. */
  public readonly databaseStacks: NestedStack[];
  /** Read-only access for operators and monitors outside the tasks (list, status, verify, restore); attach it to their role or user. */
  public readonly operatorPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BackupStackProps) {
    super(scope, id, props);
    const config = props.config;

    const vpc = this.importVpc(config);
    const bucket = this.backupBucket(config);
    const cpuArchitecture = config.cpuArchitecture && ecs.CpuArchitecture[config.cpuArchitecture];
    const shared: DatabaseShared = {
      vpc,
      bucket,
      cpuArchitecture,
      ...sharedResources(this, {
        ids: { alarmTopic: 'Alerts', deadLetterQueue: 'SchedulerDeadLetterQueue', deadLetterAlarm: 'SchedulerDeadLetterAlarm' },
        vpc,
        alarmEmail: config.alarmEmail,
        alarmSlack: config.alarmSlack,
        alarmTeams: config.alarmTeams,
        alarmWebhooks: config.alarmWebhooks?.map((w, i) => ({
          secret: importSecret(this, `AlarmWebhookSecret${i}`, w.secret),
          field: w.field,
        })),
        logRetention: config.logRetentionDays,
      }),
      image: backupTaskImage({ postgresMajorVersion: config.postgresMajorVersion, cpuArchitecture }),
    };

    // Each database in a nested stack of its own (32 resources): this stack holds only what the
    // databases share, one nested stack each, and its outputs, so that a project of up to
    // MAX_DATABASES stays within CloudFormation's limits per template (500 resources, 200 outputs).
    this.databaseStacks = config.databases.map(
      (db) =>
        new NestedStack(this, `Database${constructIdOf(db.name)}Stack`, {
          description: `pg-s3-backup ${config.project}: backups of the database ${db.name}`,
        }),
    );
    this.backups = config.databases.map((db, i) => {
      const scope = this.databaseStacks[i];
      return new PostgresBackup(scope, `Database${constructIdOf(db.name)}`, databaseBackupProps(scope, db, config, shared));
    });

    // Say when each database is backed up, as staggering computed it (cdk synth prints it).
    config.databases.forEach((db, i) =>
      Annotations.of(this.backups[i]).addInfo(
        `${db.name} is backed up on ${db.schedule ?? DEFAULT_BACKUP_SCHEDULE.expressionString} (UTC).`,
      ),
    );
    for (const warning of config.warnings ?? []) Annotations.of(this).addWarningV2('pg-s3-backup:configuration', warning);

    const monitoring = new BackupMonitoring(this, 'Monitoring', {
      backups: this.backups,
      logGroup: shared.logGroup,
      queryName: `pg-s3-backup/${config.project}/recent-runs`,
    });
    this.operatorPolicy = this.createOperatorPolicy(config, bucket);
    this.addOutputs(config, shared, monitoring);
  }

  /** The VPC, imported by attributes: synth makes no lookup and needs no credentials. */
  private importVpc(config: ProjectConfig): ec2.IVpc {
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: config.vpc.vpcId,
      availabilityZones: config.vpc.availabilityZones,
      privateSubnetIds: config.vpc.privateSubnetIds,
    });
    Validations.of(vpc).acknowledge({
      id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
      reason: 'The stack only places Fargate tasks in these subnets and never reads their route tables, so their IDs are not configured.',
    });
    return vpc;
  }

  /** The existing bucket the configuration names, or a new one with the configured bucket options. */
  private backupBucket(config: ProjectConfig): s3.IBucket {
    if (!config.existingBucket) return createBackupBuckets(this, bucketOptions(this, config)).bucket;
    return s3.Bucket.fromBucketAttributes(this, 'Bucket', {
      bucketName: config.existingBucket.name,
      encryptionKey: config.existingBucket.kmsKeyArn ? kms.Key.fromKeyArn(this, 'BucketKey', config.existingBucket.kmsKeyArn) : undefined,
    });
  }

  /** For people and monitors outside AWS tasks: list, status, verify and restore, nothing that writes. */
  private createOperatorPolicy(config: ProjectConfig, bucket: s3.IBucket): iam.ManagedPolicy {
    const prefixes = config.databases.map((d) => d.prefix);
    const policy = new iam.ManagedPolicy(this, 'OperatorReadOnlyPolicy', {
      description: `pg-s3-backup ${config.project}: read the backups (list, status, verify, restore) from a laptop or a monitoring host`,
      statements: operatorReadStatements(bucket, prefixes),
    });
    acknowledgeOperatorPolicy(policy, bucket, operatorKeyPatterns(prefixes));
    return policy;
  }

  private addOutputs(config: ProjectConfig, shared: DatabaseShared, monitoring: BackupMonitoring): void {
    new CfnOutput(this, 'BucketName', { description: 'Bucket holding the backups', value: shared.bucket.bucketName });
    new CfnOutput(this, 'LogGroupName', {
      description: 'Log group of the backup, drill and restore tasks',
      value: shared.logGroup.logGroupName,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic receiving every alert (subscribe more endpoints here)',
      value: shared.alarmTopic.topicArn,
    });
    new CfnOutput(this, 'DashboardName', { description: 'CloudWatch dashboard', value: monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'OperatorReadOnlyPolicyArn', {
      description: 'Managed policy to attach to an operator role or user for pg-s3-backup list/status/verify/restore (read-only)',
      value: this.operatorPolicy.managedPolicyArn,
    });
    // A database's commands and IDs (BackupNowCommand, RestoreNowCommand, …) are outputs of its nested stack.
    config.databases.forEach(
      (db, i) =>
        new CfnOutput(this, `Database${constructIdOf(db.name)}StackName`, {
          description: `${db.name}: the nested stack whose outputs are this database's commands and IDs (aws cloudformation describe-stacks --stack-name <this>)`,
          value: this.databaseStacks[i].stackName,
        }),
    );
  }
}

/** What the stack creates once and every database's `PostgresBackup` shares. */
interface DatabaseShared extends SharedResources {
  readonly vpc: ec2.IVpc;
  readonly bucket: s3.IBucket;
  readonly cpuArchitecture?: ecs.CpuArchitecture;
  readonly image: ecs.ContainerImage;
}

/** The props of one configured database's `PostgresBackup`, in its nested stack `scope`. */
function databaseBackupProps(scope: Construct, db: DatabaseConfig, config: ProjectConfig, shared: DatabaseShared): PostgresBackupProps {
  return {
    vpc: shared.vpc,
    connection: connectionOf(scope, db),
    databaseName: db.name,
    databaseSecurityGroup: db.securityGroupId
      ? ec2.SecurityGroup.fromSecurityGroupId(scope, `DatabaseSecurityGroup${constructIdOf(db.name)}`, db.securityGroupId)
      : undefined,
    databasePort: db.port,
    bucket: shared.bucket,
    prefix: db.prefix,
    project: config.project,
    schedule: db.schedule === undefined ? undefined : scheduler.ScheduleExpression.expression(db.schedule),
    deadLetterQueue: shared.deadLetterQueue,
    cluster: shared.cluster,
    image: shared.image,
    postgresMajorVersion: config.postgresMajorVersion,
    cpu: config.cpu,
    memoryLimitMiB: config.memoryMiB,
    cpuArchitecture: shared.cpuArchitecture,
    compress: db.compress,
    selection: db.selection,
    jobs: db.jobs,
    globals: config.globals,
    logGroup: shared.logGroup,
    alarmTopic: shared.alarmTopic,
    missedBackupAlarmHours: config.missedBackupAlarmHours,
    drill: {
      enabled: config.drill.enabled,
      schedule: config.drill.schedule === undefined ? undefined : scheduler.ScheduleExpression.expression(config.drill.schedule),
      cpu: config.drill.cpu,
      memoryLimitMiB: config.drill.memoryMiB,
      ephemeralStorageGiB: config.drill.ephemeralStorageGiB,
      overdueAfterDays: config.drill.overdueAfterDays,
    },
    restoreTask: {
      enabled: config.restoreTask.enabled,
      cpu: config.restoreTask.cpu,
      memoryLimitMiB: config.restoreTask.memoryMiB,
      ephemeralStorageGiB: config.restoreTask.ephemeralStorageGiB,
    },
  };
}

function bucketOptions(scope: Construct, config: ProjectConfig): BackupBucketOptions {
  return {
    retention: {
      daily: days(config.retention?.dailyDays),
      weekly: days(config.retention?.weeklyDays),
      monthly: days(config.retention?.monthlyDays),
    },
    noncurrentVersionExpiration: days(config.noncurrentVersionDays),
    transition: config.transition
      ? { storageClass: STORAGE_CLASSES[config.transition.storageClass], after: Duration.days(config.transition.afterDays) }
      : undefined,
    objectLock: config.objectLock ? { mode: config.objectLock.mode, duration: Duration.days(config.objectLock.days) } : undefined,
    encryptionKey: config.bucketKmsKeyArn ? kms.Key.fromKeyArn(scope, 'BucketKey', config.bucketKmsKeyArn) : undefined,
  };
}

/** A number of days as a Duration; undefined (the construct's default) stays undefined. */
const days = (n: number | undefined) => (n === undefined ? undefined : Duration.days(n));

/** A secret the configuration names by complete ARN, partial ARN or name. */
function importSecret(scope: Construct, id: string, secret: string): secretsmanager.ISecret {
  if (!secret.startsWith('arn:')) return secretsmanager.Secret.fromSecretNameV2(scope, id, secret);
  return /-[A-Za-z0-9]{6}$/.test(secret)
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, secret)
    : secretsmanager.Secret.fromSecretPartialArn(scope, id, secret);
}

/** The connection of one configured database, importing its secret by ARN or name. */
function connectionOf(scope: Construct, db: DatabaseConfig): DatabaseConnection {
  const id = `Secret${constructIdOf(db.name)}`;
  const encryptionKey = db.secretKmsKeyArn ? kms.Key.fromKeyArn(scope, `${id}Key`, db.secretKmsKeyArn) : undefined;
  const isArn = db.secret.startsWith('arn:');
  // A complete ARN ends in '-' and 6 characters added by Secrets Manager.
  const complete = isArn && /-[A-Za-z0-9]{6}$/.test(db.secret);
  const secret = isArn
    ? secretsmanager.Secret.fromSecretAttributes(
        scope,
        id,
        complete ? { secretCompleteArn: db.secret, encryptionKey } : { secretPartialArn: db.secret, encryptionKey },
      )
    : encryptionKey
      ? secretsmanager.Secret.fromSecretAttributes(scope, id, {
          secretPartialArn: `arn:${Stack.of(scope).partition}:secretsmanager:${Stack.of(scope).region}:${Stack.of(scope).account}:secret:${db.secret}`,
          encryptionKey,
        })
      : secretsmanager.Secret.fromSecretNameV2(scope, id, db.secret);
  return db.secretFormat === 'url'
    ? DatabaseConnection.fromUrlSecret(secret, { field: db.secretField, sslMode: db.sslMode, sslRootCert: db.sslRootCert })
    : DatabaseConnection.fromRdsSecret(secret, {
        sslMode: db.sslMode,
        sslRootCert: db.sslRootCert,
        host: db.host,
        port: db.host ? db.port : undefined,
      });
}

/** A stable PascalCase construct ID from a database name. */
export function constructIdOf(name: string): string {
  const parts = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const id = parts.map((p) => p[0].toUpperCase() + p.slice(1)).join('');
  return id || 'Db';
}
