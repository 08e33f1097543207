import { Duration, SecretValue } from 'aws-cdk-lib';
import { integerProblems, throwIfProblems } from './private/validation';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ENV } from '../task/src/contract';
import { addCliContainer, cliTaskDefinition } from './private/cli-container';
import {
  acknowledgeExecutionRole,
  acknowledgeFolderWildcard,
  acknowledgeRestoreTargetSecret,
  acknowledgeTaskDefinition,
} from './private/acknowledgements';
import { jobsSizeProblems, taskSizeFor, taskSizeProblems } from './private/fargate-size';
import type { IBackupSource } from './backup-source';
import { runTaskCommand } from './private/run-task-command';
import { TaskFailureRules, taskGroup } from './private/task-failure-rules';

/**
 * The initial value of the restore target secret. It is deliberately not a URL: a restore
 * started before an operator has set the secret fails at configuration (exit 2, "RESTORE_TARGET_URL
 * is not a valid URL", the value not shown) and touches no database. It holds no credential.
 */
export const RESTORE_TARGET_PLACEHOLDER =
  'REPLACE ME: postgres://user:password@host:5432/dbname?sslmode=require of the database to restore into';

/** The container's variable that receives the target URL (the CLI's `--target`). */
export const RESTORE_TARGET_VARIABLE = ENV.target;

/** The defaults of {@link RestoreTaskOptions}. */
export const RESTORE_TASK_DEFAULTS = { cpu: 1024, memoryLimitMiB: 2048, ephemeralStorageGiB: 50 } as const;

/** Settings of the on-demand restore task. */
export interface RestoreTaskOptions {
  /** Set to false to have no restore task (no task definition, secret or security group). @default true */
  readonly enabled?: boolean;
  /**
   * Task CPU units. A single-job restore applies the archive in one transaction, on one core.
   * Given explicitly, it must give each of the backup's `jobs` a vCPU.
   * @default - 1024, or a vCPU per stream of the backup's `jobs` when memoryLimitMiB is not given either
   */
  readonly cpu?: number;
  /**
   * Task memory.
   * @default - 2048, or at least Fargate's smallest with the CPU sized for the backup's `jobs` when cpu is not given either
   */
  readonly memoryLimitMiB?: number;
  /**
   * Task storage. A single-job restore streams the archive into one transaction and needs
   * none; `restore --jobs N` downloads and checks the archive first, so this must hold it for
   * that (the task checks free space before it downloads). 21-200.
   * @default 50
   */
  readonly ephemeralStorageGiB?: number;
}

/** Props of {@link RestoreTask}. */
export interface RestoreTaskProps extends RestoreTaskOptions {
  /** The backup whose backups the task restores (bucket, folder, image, cluster, log group, topic, subnets). */
  readonly backup: IBackupSource;
  /** The VPC of the backup task: the new instance must be reachable from it. */
  readonly vpc: ec2.IVpc;
  /** Must match the image. */
  readonly cpuArchitecture: ecs.CpuArchitecture;
  /**
   * The backup's streams: the task restores with as many jobs (RESTORE_JOBS; `--jobs` in a command
   * override wins), and a task left unsized gets a vCPU per job.
   * @default 1
   */
  readonly jobs?: number;
  /** Words for alerts and descriptions, e.g. `Restore of orders/app`. */
  readonly what: string;
}

/**
 * An on-demand restore: a Fargate task that runs `restore --latest` of the backup's
 * database into the database named by a Secrets Manager secret, typically a new RDS
 * instance. Nothing schedules it; an operator sets the secret and runs `restoreNowCommand`.
 *
 * - The target is the secret `RestoreTargetSecret`, a `postgres://user:password@host:5432/dbname?sslmode=require`
 *   URL. ECS injects it as `RESTORE_TARGET_URL`: it is never in the template or on a command
 *   line. Its initial value is {@link RESTORE_TARGET_PLACEHOLDER}, which the task refuses.
 * - The command is `restore --latest --dbname <db> --no-owner --no-acl` (a new instance has
 *   other roles than production). To restore an older backup, override the container
 *   command in `aws ecs run-task --overrides` with `restore --key <key> --dbname <db> --no-owner --no-acl`.
 * - It reads through its own role, granted with `grantRestore` (list and get, no write or
 *   delete), never the writer's, and has its own security group with no inbound rule: open
 *   the new instance's security group to `securityGroup`.
 * - A task that fails or does not start alerts on the backup's topic.
 */
export class RestoreTask extends Construct {
  /** The restore task definition (family `…-restore`). */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The `restore` container. */
  public readonly container: ecs.ContainerDefinition;
  /** Holds the target URL; set it just before a restore. */
  public readonly targetSecret: secretsmanager.Secret;
  /** The task's security group (outbound only): allow it on the target's port. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** `aws ecs run-task …` that starts a restore of the latest backup now. */
  public readonly restoreNowCommand: string;

  constructor(scope: Construct, id: string, props: RestoreTaskProps) {
    super(scope, id);
    throwIfProblems('restore task', restoreTaskProblems(props, props.jobs));
    const backup = props.backup;

    this.targetSecret = new secretsmanager.Secret(this, 'RestoreTargetSecret', {
      description: `${props.what}: postgres:// URL of the database to restore into (set it just before a restore; pg-s3-backup)`,
      secretStringValue: SecretValue.unsafePlainText(RESTORE_TARGET_PLACEHOLDER),
    });
    acknowledgeRestoreTargetSecret(this.targetSecret);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `${props.what}: outbound to the restore target, S3, ECR, CloudWatch Logs and Secrets Manager; no inbound`,
      allowAllOutbound: true,
    });

    // `restore --jobs N` downloads the archive to the scratch volume (task storage) before it applies it.
    this.taskDefinition = cliTaskDefinition(this, {
      familySuffix: 'restore',
      ...taskSizeFor(props.jobs ?? 1, { cpu: props.cpu, memory: props.memoryLimitMiB }, RESTORE_TASK_DEFAULTS),
      ephemeralStorageGiB: props.ephemeralStorageGiB ?? RESTORE_TASK_DEFAULTS.ephemeralStorageGiB,
      cpuArchitecture: props.cpuArchitecture,
    });
    this.container = addCliContainer(this, this.taskDefinition, 'restore', {
      image: backup.image,
      // A new instance has none of production's roles: restore without owners and grants.
      command: ['restore', '--latest', '--dbname', backup.databaseName, '--no-owner', '--no-acl'],
      environment: { ...backup.storageEnvironment(), ...((props.jobs ?? 1) > 1 ? { [ENV.jobs]: String(props.jobs) } : {}) },
      secrets: { [RESTORE_TARGET_VARIABLE]: ecs.Secret.fromSecretsManager(this.targetSecret) },
      logGroup: backup.logGroup,
      streamPrefix: `restore-${backup.databaseName}`,
      stopTimeout: Duration.seconds(120),
    });

    backup.grantRestore(this.taskDefinition.taskRole);
    acknowledgeTaskDefinition(
      this.taskDefinition,
      'the restore task',
      `the target URL (${ENV.target}, with its password) is an ECS secret injected from the Secrets Manager secret ${this.node.path}/RestoreTargetSecret and never appears in the template.`,
    );
    acknowledgeExecutionRole(this.taskDefinition);
    acknowledgeFolderWildcard(this.taskDefinition.taskRole, backup.bucket, backup.folder, 'read backups (GetObject)');

    TaskFailureRules.of(backup.cluster, backup.alarmTopic);
    this.restoreNowCommand = runTaskCommand(
      backup.cluster,
      this.taskDefinition.family,
      taskGroup('restore', backup.databaseName),
      backup.subnets,
      this.securityGroup,
    );
  }
}

/**
 * Problems with restore task settings for a backup of `jobs` streams, named as the `restoreTask`
 * prop of `PostgresBackup` names them. None when the task is disabled.
 */
export function restoreTaskProblems(options: RestoreTaskOptions, jobs?: number): readonly string[] {
  if (options.enabled === false) return [];
  const size = { cpu: options.cpu, memory: options.memoryLimitMiB };
  return [
    ...taskSizeProblems('restoreTask.', size, RESTORE_TASK_DEFAULTS),
    ...jobsSizeProblems('restoreTask.', jobs, size, RESTORE_TASK_DEFAULTS),
    ...integerProblems(
      'restoreTask.ephemeralStorageGiB',
      options.ephemeralStorageGiB,
      21,
      200,
      " (Fargate's limit)",
      'It must hold the downloaded archive; leave it unset for 50.',
    ),
  ];
}
