import { Duration, Names } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../../task/src/contract';
import { SCRATCH_PATH, SCRATCH_VOLUME } from '../task-image';

/** A log stream prefix from a database name (no ':' or '*'). */
export function logStreamSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** Options of {@link cliTaskDefinition}. */
export interface CliTaskDefinitionOptions {
  /** Appended to the construct's unique name to form the family, e.g. `backup` gives `…-backup`. */
  readonly familySuffix: string;
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  /** @default - Fargate's default (20 GiB) */
  readonly ephemeralStorageGiB?: number;
  readonly cpuArchitecture: ecs.CpuArchitecture;
}

/** A Fargate task definition for the CLI image, with the scratch volume its containers mount. */
export function cliTaskDefinition(scope: Construct, options: CliTaskDefinitionOptions): ecs.FargateTaskDefinition {
  return new ecs.FargateTaskDefinition(scope, 'TaskDefinition', {
    family: `${Names.uniqueResourceName(scope, { maxLength: 200, separator: '-' })}-${options.familySuffix}`,
    cpu: options.cpu,
    memoryLimitMiB: options.memoryLimitMiB,
    ephemeralStorageGiB: options.ephemeralStorageGiB,
    runtimePlatform: { cpuArchitecture: options.cpuArchitecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    volumes: [{ name: SCRATCH_VOLUME }],
  });
}

/** Options of {@link addCliContainer}. */
export interface CliContainerOptions {
  readonly image: ecs.ContainerImage;
  /** The CLI's arguments, e.g. `['backup']`. */
  readonly command: string[];
  /** Settings beyond the ones every CLI container gets (LOG_FORMAT=json, TMPDIR on the scratch volume). */
  readonly environment: Record<string, string>;
  /** @default - none */
  readonly secrets?: Record<string, ecs.Secret>;
  readonly logGroup: logs.ILogGroup;
  /** Log stream prefix, e.g. `backup-<database>` (made safe for CloudWatch). */
  readonly streamPrefix: string;
  readonly stopTimeout: Duration;
}

/**
 * Adds a container running the CLI, hardened the same way in every task: JSON logs to the
 * log group, a read-only root filesystem with TMPDIR on the task's scratch volume, and an
 * init process so that SIGTERM reaches node and an unfinished upload is aborted cleanly.
 */
export function addCliContainer(
  scope: Construct,
  taskDefinition: ecs.TaskDefinition,
  id: string,
  options: CliContainerOptions,
): ecs.ContainerDefinition {
  const container = taskDefinition.addContainer(id, {
    image: options.image,
    command: options.command,
    essential: true,
    environment: { ...options.environment, [ENV.logFormat]: 'json', [ENV.tmpdir]: SCRATCH_PATH },
    secrets: options.secrets,
    logging: ecs.LogDrivers.awsLogs({ logGroup: options.logGroup, streamPrefix: logStreamSafe(options.streamPrefix) }),
    stopTimeout: options.stopTimeout,
    readonlyRootFilesystem: true,
    linuxParameters: new ecs.LinuxParameters(scope, 'LinuxParameters', { initProcessEnabled: true }),
  });
  container.addMountPoints({ containerPath: SCRATCH_PATH, sourceVolume: SCRATCH_VOLUME, readOnly: false });
  return container;
}
