import { Duration } from 'aws-cdk-lib';
import { scheduleCliTask } from './private/scheduled-task';
import { integerProblems, throwIfProblems } from './private/validation';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { ENV } from '../task/src/contract';
import { addCliContainer, cliTaskDefinition, logStreamSafe } from './private/cli-container';
import { drillFailedAlarm, drillOverdueAlarm } from './private/alarms';
import { jobsSizeProblems, taskSizeFor, taskSizeProblems } from './private/fargate-size';
import type { IBackupSource } from './backup-source';
import { acknowledgeExecutionRole, acknowledgeFolderWildcard, acknowledgeTaskDefinition } from './private/acknowledgements';
import { runTaskCommand } from './private/run-task-command';
import { TaskFailureRules, taskGroup } from './private/task-failure-rules';
import { drillServerImage } from './task-image';

/** The default drill schedule: Mondays at 06:00 UTC, after Monday's 04:00 backup. */
export const DEFAULT_DRILL_SCHEDULE = scheduler.ScheduleExpression.cron({ minute: '0', hour: '6', weekDay: 'MON' });

/** The scratch database the drill restores into. */
export const DRILL_TARGET_URL = 'postgres://postgres@localhost:5432/drill';

/** The defaults of {@link RestoreDrillOptions}. */
export const DRILL_DEFAULTS = { cpu: 1024, memoryLimitMiB: 4096, ephemeralStorageGiB: 50, overdueAfterDays: 7 } as const;

/** Settings of the restore drill. */
export interface RestoreDrillOptions {
  /** Set to false to have no drill. @default true */
  readonly enabled?: boolean;
  /** When to drill. @default cron(0 6 ? * MON *) - weekly */
  readonly schedule?: scheduler.ScheduleExpression;
  /**
   * Given explicitly, it must give each of the backup's `jobs` streams a vCPU.
   * @default - 1024, or a vCPU per stream of the backup's `jobs` when memoryLimitMiB is not given either
   */
  readonly cpu?: number;
  /**
   * Memory for PostgreSQL and the verifier together.
   * @default - 4096, or at least Fargate's smallest with the CPU sized for the backup's `jobs` when cpu is not given either
   */
  readonly memoryLimitMiB?: number;
  /**
   * Task storage: holds the restored database (the drill streams the archive into it, with
   * no copy on disk). 21-200.
   * @default 50
   */
  readonly ephemeralStorageGiB?: number;
  /**
   * The throwaway server. It must be pullable from the task's subnets: an image in a public
   * registry needs a NAT gateway.
   * @default - the official postgres:<postgresMajorVersion> image, copied into the stack's asset repository (`drillServerImage()`)
   */
  readonly postgresImage?: ecs.ContainerImage;
  /**
   * Complete UTC days without a successful drill before the overdue alarm fires, 1-7
   * (CloudWatch evaluates at most 7 days). 7 with the weekly drill means: at most 8 days
   * after the last success.
   * @default 7
   */
  readonly overdueAfterDays?: number;
}

/** Props of {@link RestoreDrill}. */
export interface RestoreDrillProps extends RestoreDrillOptions {
  /** The backup whose latest backup the drill restores (bucket, folder, metrics, topic, cluster, image). */
  readonly backup: IBackupSource;
  readonly vpc: ec2.IVpc;
  /** @default - the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Major version of the scratch server; at least the client's, so that pg_restore reads the archive. */
  readonly postgresMajorVersion: number;
  readonly cpuArchitecture: ecs.CpuArchitecture;
  /**
   * The backup's streams: the drill restores with as many jobs (RESTORE_JOBS), as the restore task
   * does, and a task left unsized gets a vCPU per job.
   * @default 1
   */
  readonly jobs?: number;
  /** Words for alerts, e.g. `Backup of orders/app`. */
  readonly what: string;
}

/**
 * A scheduled restore drill: a Fargate task with a throwaway PostgreSQL container and the
 * backup image running `verify --latest --restore-into` against it. It proves the newest
 * complete backup restores (size and SHA-256 against the manifest, a full pg_restore read,
 * a real restore) and emits DrillSuccess / DrillFailure. The drill reads through its own
 * role, granted with `grantRestore` (list and get, no write), never the writer's; it does
 * not receive the production database secret.
 */
export class RestoreDrill extends Construct {
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly schedule: scheduler.Schedule;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly failedAlarm: cloudwatch.Alarm;
  public readonly overdueAlarm: cloudwatch.Alarm;
  /** `aws ecs run-task …` that starts a drill now. */
  public readonly drillNowCommand: string;

  constructor(scope: Construct, id: string, props: RestoreDrillProps) {
    super(scope, id);
    validate(props);
    const backup = props.backup;

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `${props.what} restore drill: outbound to S3, ECR and CloudWatch Logs; no inbound (the scratch server listens on localhost only)`,
      allowAllOutbound: true,
    });

    this.taskDefinition = cliTaskDefinition(this, {
      familySuffix: 'drill',
      ...taskSizeFor(props.jobs ?? 1, { cpu: props.cpu, memory: props.memoryLimitMiB }, DRILL_DEFAULTS),
      ephemeralStorageGiB: props.ephemeralStorageGiB ?? DRILL_DEFAULTS.ephemeralStorageGiB,
      cpuArchitecture: props.cpuArchitecture,
    });
    const postgres = this.addScratchServer(props);
    const verify = this.addVerifyContainer(backup, props.jobs ?? 1);
    verify.addContainerDependencies({ container: postgres, condition: ecs.ContainerDependencyCondition.HEALTHY });

    backup.grantRestore(this.taskDefinition.taskRole);
    acknowledgeTaskDefinition(this.taskDefinition, 'the restore drill');
    acknowledgeExecutionRole(this.taskDefinition);
    acknowledgeFolderWildcard(this.taskDefinition.taskRole, backup.bucket, backup.folder, 'read backups (GetObject)');

    this.schedule = scheduleCliTask(this, {
      cluster: backup.cluster,
      taskDefinition: this.taskDefinition,
      securityGroup: this.securityGroup,
      vpcSubnets: props.vpcSubnets,
      schedule: props.schedule ?? DEFAULT_DRILL_SCHEDULE,
      description: `${props.what}: restore drill (pg-s3-backup)`,
      group: taskGroup('drill', backup.databaseName),
      deadLetterQueue: backup.deadLetterQueue,
    });

    TaskFailureRules.of(backup.cluster, backup.alarmTopic);
    this.failedAlarm = drillFailedAlarm(this, 'FailedAlarm', {
      failureMetric: backup.metricDrillFailure(),
      topic: backup.alarmTopic,
      what: props.what,
    });
    this.overdueAlarm = drillOverdueAlarm(this, 'OverdueAlarm', {
      successMetric: backup.metricDrillSuccess(),
      days: props.overdueAfterDays ?? DRILL_DEFAULTS.overdueAfterDays,
      topic: backup.alarmTopic,
      what: props.what,
    });
    this.drillNowCommand = runTaskCommand(
      backup.cluster,
      this.taskDefinition.family,
      taskGroup('drill', backup.databaseName),
      backup.subnets,
      this.securityGroup,
    );
  }

  /**
   * The scratch server: trust authentication is safe here because it listens on
   * localhost only (containers of a task share the network namespace) and the task's
   * security group has no inbound rule. Durability settings are off: it is thrown away.
   */
  private addScratchServer(props: RestoreDrillProps): ecs.ContainerDefinition {
    return this.taskDefinition.addContainer('postgres', {
      image:
        props.postgresImage ??
        drillServerImage({ postgresMajorVersion: props.postgresMajorVersion, cpuArchitecture: props.cpuArchitecture }),
      essential: false,
      command: [
        'postgres',
        '-c',
        'listen_addresses=localhost',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      environment: { POSTGRES_HOST_AUTH_METHOD: 'trust' },
      healthCheck: {
        command: ['CMD-SHELL', 'pg_isready -h localhost -U postgres || exit 1'],
        interval: Duration.seconds(5),
        timeout: Duration.seconds(5),
        retries: 12,
        startPeriod: Duration.seconds(30),
      },
      logging: ecs.LogDrivers.awsLogs({
        logGroup: props.backup.logGroup,
        streamPrefix: logStreamSafe(`drill-postgres-${props.backup.databaseName}`),
      }),
      stopTimeout: Duration.seconds(30),
    });
  }

  /** The backup image running `verify --latest --restore-into` the scratch server. */
  private addVerifyContainer(backup: IBackupSource, jobs: number): ecs.ContainerDefinition {
    return addCliContainer(this, this.taskDefinition, 'verify', {
      image: backup.image,
      command: ['verify', '--latest', '--dbname', backup.databaseName, '--restore-into', DRILL_TARGET_URL],
      environment: {
        ...backup.storageEnvironment(),
        // The scratch server has none of production's roles.
        [ENV.noOwner]: 'true',
        [ENV.noAcl]: 'true',
        // The drill restores as the restore task would (a parallel backup's pieces, this many at a time).
        ...(jobs > 1 ? { [ENV.jobs]: String(jobs) } : {}),
      },
      logGroup: backup.logGroup,
      streamPrefix: `drill-${backup.databaseName}`,
      stopTimeout: Duration.seconds(30),
    });
  }
}

function validate(props: RestoreDrillProps): void {
  throwIfProblems('restore drill', [
    ...taskSizeProblems('drill.', { cpu: props.cpu, memory: props.memoryLimitMiB }, DRILL_DEFAULTS),
    ...jobsSizeProblems('drill.', props.jobs, { cpu: props.cpu, memory: props.memoryLimitMiB }, DRILL_DEFAULTS),
    ...integerProblems('drill.ephemeralStorageGiB', props.ephemeralStorageGiB, 21, 200, '', 'It must hold the restored database.'),
    ...integerProblems('drill.overdueAfterDays', props.overdueAfterDays, 1, 7, ' (CloudWatch evaluates at most 7 days)'),
  ]);
}
