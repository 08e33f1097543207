import * as path from 'node:path';
import { IgnoreMode } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';

/** The repository root: the Docker build context of task/Dockerfile. */
export const REPOSITORY_ROOT = path.resolve(__dirname, '..');

/**
 * The image's scratch directory (TMPDIR, a VOLUME owned by the non-root user): the task
 * definitions mount a task volume there, so the root filesystem can stay read-only.
 */
export const SCRATCH_PATH = '/scratch';

/**
 * Amazon RDS's CA bundle in the image (task/Dockerfile fetches it at build time): the
 * default PGSSLROOTCERT for sslmode verify-ca and verify-full.
 */
export const RDS_CA_BUNDLE_PATH = '/usr/local/share/pg-s3-backup/rds-global-bundle.pem';

/** Name of the task volume mounted at {@link SCRATCH_PATH}. */
export const SCRATCH_VOLUME = 'scratch';

/** The PostgreSQL client major the image installs by default. */
export const DEFAULT_POSTGRES_MAJOR = 18;

/** Options of {@link backupTaskImage}. */
export interface BackupTaskImageOptions {
  /** PostgreSQL client major version (build argument PG_MAJOR). @default 18 */
  readonly postgresMajorVersion?: number;
  /** CPU architecture to build for; must match the task definition. @default ecs.CpuArchitecture.X86_64 */
  readonly cpuArchitecture?: ecs.CpuArchitecture;
}

/**
 * The backup task image, built from task/Dockerfile at deploy time (synth only stages the
 * context, so it needs neither Docker nor a prior `npm run build`). The context is the
 * repository root filtered by /.dockerignore to the package files and the task sources;
 * the Dockerfile bundles task/dist/cli.js itself in a build stage.
 */
export function backupTaskImage(options: BackupTaskImageOptions = {}): ecs.ContainerImage {
  const arm = options.cpuArchitecture === ecs.CpuArchitecture.ARM64;
  return ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, {
    file: 'task/Dockerfile',
    ignoreMode: IgnoreMode.DOCKER,
    buildArgs: { PG_MAJOR: String(options.postgresMajorVersion ?? DEFAULT_POSTGRES_MAJOR) },
    platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
  });
}

/**
 * The restore drill's scratch PostgreSQL server: the official `postgres:<major>` image,
 * rebuilt unchanged from task/drill-server/Dockerfile as an asset, so that it is served from
 * the stack's own ECR asset repository. Tasks in private subnets with VPC endpoints and no
 * NAT can pull it; they could not pull from a public registry.
 */
export function drillServerImage(options: BackupTaskImageOptions = {}): ecs.ContainerImage {
  const arm = options.cpuArchitecture === ecs.CpuArchitecture.ARM64;
  return ecs.ContainerImage.fromAsset(path.join(REPOSITORY_ROOT, 'task', 'drill-server'), {
    buildArgs: { PG_MAJOR: String(options.postgresMajorVersion ?? DEFAULT_POSTGRES_MAJOR) },
    platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
  });
}
