import { ContextReader, Raw, show } from './reader';
import { AlertsConfig, parseAlerts } from './alerts';
import { BucketConfig, parseBucket } from './bucket';
import { cdkKeyWarnings, isCdkContextKey } from './cdk-keys';
import { DatabaseConfig, parseDatabases } from './databases';
import { scheduleExpression } from './schedule';
import { parseTasks, taskJobsProblems, TasksConfig } from './tasks';
import { MAX_JOBS } from '../private/fargate-size';

export type { AlertsConfig, SlackAlertsConfig, TeamsAlertsConfig, WebhookAlertsConfig } from './alerts';
export type { BucketConfig, TransitionClass } from './bucket';
export { MAX_DATABASES } from './databases';
export type { DatabaseConfig, SecretFormat } from './databases';
export { DEFAULT_DRILL_SCHEDULE_EXPRESSION, DEFAULT_SCHEDULE } from './schedule';
export type { TasksConfig } from './tasks';

/**
 * The app's configuration: read from CDK context (cdk.json, overridable with `-c key=value`)
 * and validated once, before any construct exists, by concern (databases.ts, bucket.ts,
 * tasks.ts, schedule.ts). Every problem is collected and reported together, each naming the
 * setting, the value received and the fix. A setting left out stays `undefined`: the construct
 * it is given to applies its own default, so defaults are written once. A key the app does
 * not read is refused with the key it most likely meant, at the top level and in every object
 * setting, except the keys CDK itself owns (cdk-keys.ts).
 */

/** The validated configuration of one project (README "Configuration reference" documents each key). */
export interface ProjectConfig extends BucketConfig, TasksConfig, AlertsConfig {
  /** Names the stack (`PgS3Backup-<project>`) and the metrics' `Project` dimension. */
  readonly project: string;
  /** @default - the CLI's account (environment-agnostic stack) */
  readonly account?: string;
  /** @default - the CLI's region (environment-agnostic stack) */
  readonly region?: string;
  /** The VPC, imported by attributes (no lookup): one private subnet per zone, in zone order. */
  readonly vpc: { readonly vpcId: string; readonly availabilityZones: string[]; readonly privateSubnetIds: string[] };
  /** The databases to back up, each with its own folder, schedule and drill. */
  readonly databases: DatabaseConfig[];
  /** @default - no subscription */
  readonly alarmEmail?: string;
  /**
   * What the configuration accepted but doubts (a near miss of a CDK feature flag), for the
   * stack to report as synth warnings.
   * @default - none
   */
  readonly warnings?: readonly string[];
}

/** Every top-level setting the app reads from context. */
export const CONFIG_KEYS = [
  'project',
  'account',
  'region',
  'vpc',
  'databases',
  'prefix',
  'schedule',
  'staggerMinutes',
  'jobs',
  'alarmEmail',
  'alarmSlack',
  'alarmTeams',
  'alarmWebhooks',
  'retention',
  'noncurrentVersionDays',
  'transition',
  'objectLock',
  'bucketKmsKeyArn',
  'existingBucket',
  'cpu',
  'memoryMiB',
  'cpuArchitecture',
  'postgresMajorVersion',
  'logRetentionDays',
  'missedBackupAlarmHours',
  'globals',
  'drill',
  'restoreTask',
] as const;

/** Thrown with every configuration problem found. */
export class ProjectConfigError extends Error {
  constructor(public readonly problems: readonly string[]) {
    super(
      `Invalid pg-s3-backup configuration in cdk.json "context" (or -c): ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'ProjectConfigError';
  }
}

/**
 * Values given with `-c key=value` arrive as strings: a setting that expects a number,
 * boolean, object or array is parsed as JSON (`-c staggerMinutes=15`,
 * `-c drill='{"enabled":false}'`).
 */
function fromContext(value: unknown, expectsString: boolean, problems: string[], key: string): unknown {
  if (typeof value !== 'string' || expectsString) return value;
  try {
    return JSON.parse(value);
  } catch {
    problems.push(`${key}: ${show(value)} is not valid JSON; with -c give it as JSON, e.g. -c ${key}='{"…": …}'.`);
    return undefined;
  }
}

/**
 * Reads and validates the configuration from the whole CDK context (`app.node.getAllContext()`):
 * all of it, so that a key the app does not know is seen.
 */
export function loadProjectConfig(context: Readonly<Raw>): ProjectConfig {
  const problems: string[] = [];
  const ctx: Raw = { ...context };
  const stringKeys = new Set(['project', 'account', 'region', 'prefix', 'schedule', 'alarmEmail', 'bucketKmsKeyArn', 'cpuArchitecture']);
  for (const key of CONFIG_KEYS) ctx[key] = fromContext(context[key], stringKeys.has(key), problems, key);
  return parseProjectConfig(ctx, problems);
}

/** Said when a top-level key is unknown and close to no known key. */
const CDK_KEYS_NOTE =
  "Keys CDK owns are left to it: feature flags ('@aws-cdk/…:…'), cdk.context.json lookups ('…:account=…'), 'acknowledged-issue-numbers', 'cli-telemetry'.";

/** Validates a configuration object; `problems` may already hold problems found while reading. */
export function parseProjectConfig(ctx: Raw, problems: string[] = []): ProjectConfig {
  const r = new ContextReader(problems);
  r.unknownKeys('', ctx, CONFIG_KEYS, { test: isCdkContextKey, note: CDK_KEYS_NOTE });
  const project =
    r.str('project', ctx.project, {
      required: true,
      pattern: /^[A-Za-z][A-Za-z0-9-]{0,39}$/,
      hint: "a short name: a letter, then letters, digits or '-' (at most 40), e.g. 'orders'. It names the stack and the metrics' Project dimension.",
    }) ?? 'invalid';
  const account = r.str('account', ctx.account, {
    pattern: /^\d{12}$/,
    hint: "a 12-digit AWS account ID, or leave it out to deploy to the CLI's account.",
  });
  const region = r.str('region', ctx.region, {
    pattern: /^[a-z]{2}(-[a-z]+)+-\d$/,
    hint: "a region name such as 'eu-west-1', or leave it out.",
  });

  // VPC, imported by attributes: no lookup, so synth works offline.
  const vpcRaw = r.obj('vpc', ctx.vpc, ['vpcId', 'availabilityZones', 'privateSubnetIds']);
  if (ctx.vpc === undefined)
    r.problems.push(
      'vpc is required: {"vpcId": "vpc-…", "availabilityZones": ["eu-west-1a", …], "privateSubnetIds": ["subnet-…", …]} (one subnet per zone, in the same order).',
    );
  const vpcId = vpcRaw
    ? r.str('vpc.vpcId', vpcRaw.vpcId, {
        required: true,
        pattern: /^vpc-[0-9a-f]{8,17}$/,
        hint: "the VPC ID, e.g. 'vpc-0123456789abcdef0'.",
      })
    : undefined;
  const azs = vpcRaw
    ? r.ids('vpc.availabilityZones', vpcRaw.availabilityZones, /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, '["eu-west-1a", "eu-west-1b"]')
    : [];
  const subnets = vpcRaw
    ? r.ids('vpc.privateSubnetIds', vpcRaw.privateSubnetIds, /^subnet-[0-9a-f]{8,17}$/, '["subnet-0aaa…", "subnet-0bbb…"]')
    : [];
  if (vpcRaw && azs.length > 0 && subnets.length > 0 && subnets.length % azs.length !== 0) {
    r.problems.push(
      `vpc.privateSubnetIds has ${subnets.length} subnets for ${azs.length} availability zones: give one subnet per zone (or the same number per zone), in the order of vpc.availabilityZones.`,
    );
  }

  const defaultPrefix = r.str('prefix', ctx.prefix) ?? project;
  const schedule = ctx.schedule === undefined ? undefined : scheduleExpression('schedule', ctx.schedule, problems);
  const stagger =
    r.int('staggerMinutes', ctx.staggerMinutes, 0, 1440, {
      default: 0,
      hint: 'Minutes between the starts of databases that share a server.',
    }) ?? 0;
  const jobs = r.int('jobs', ctx.jobs, 1, MAX_JOBS, {
    default: 1,
    hint: "Streams of each database's backup (its own jobs wins), each with a vCPU: Fargate's largest task has 16.",
  });
  const databases = parseDatabases(r, ctx, { defaultPrefix, schedule, stagger, jobs });
  const bucket = parseBucket(r, ctx);
  const alarmEmail = r.str('alarmEmail', ctx.alarmEmail, {
    pattern: /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
    hint: "an e-mail address, e.g. 'ops@example.com'.",
  });
  const alerts = parseAlerts(r, ctx);
  const tasks = parseTasks(r, ctx);
  problems.push(...taskJobsProblems(tasks, databases));
  if (problems.length > 0) throw new ProjectConfigError(problems);
  return {
    project,
    account,
    region,
    vpc: { vpcId: vpcId ?? '', availabilityZones: azs, privateSubnetIds: subnets },
    databases,
    alarmEmail,
    ...alerts,
    ...bucket,
    ...tasks,
    warnings: cdkKeyWarnings(Object.keys(ctx)),
  };
}
