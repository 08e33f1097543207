import { BUCKET_NAME_PATTERN, COMPRESSION_PATTERN, prefixProblems, SSL_MODES, SslMode } from '../task/src/contract';
import { DumpSelection, normalizeSelection, patternProblems, selectionProblems } from '../task/src/postgres/selection';
import { fargateSizeProblems } from './private/fargate-size';

/**
 * The app's configuration: read from CDK context (cdk.json, overridable with `-c key=value`)
 * and validated once, before any construct exists. Every problem is collected and reported
 * together, each naming the setting, the value received and the fix.
 */

/** How a database's secret is laid out. */
export type SecretFormat = 'rds' | 'url';

/** One database to back up (an entry of `databases`). */
export interface DatabaseConfig {
  /** The PostgreSQL database name (key folder, metric dimension, drill target). */
  readonly name: string;
  /** Secret ARN (complete, with its 6-character suffix, preferred) or name. */
  readonly secret: string;
  /** @default 'rds' */
  readonly secretFormat: SecretFormat;
  /** For `url`: the JSON field holding the URL. @default - the whole secret string */
  readonly secretField?: string;
  /** Customer-managed KMS key that encrypts the secret. @default - the AWS managed key */
  readonly secretKmsKeyArn?: string;
  /** @default 'require' */
  readonly sslMode: SslMode;
  /** CA bundle path in the container for verify-ca/verify-full. @default - the RDS bundle in the image */
  readonly sslRootCert?: string;
  /** Server host name when the secret has no `host` field (RDS-managed master secrets). */
  readonly host?: string;
  /** The database's security group, opened to the task on `port`. */
  readonly securityGroupId?: string;
  /** @default 5432 */
  readonly port: number;
  /** Key prefix. @default - the project's `prefix` */
  readonly prefix: string;
  /** Schedule expression for this database (after staggering). */
  readonly schedule: string;
  readonly compress?: string;
  /** What to dump (pg_dump patterns: `schemas`, `excludeSchemas`, `tables`, `excludeTables`, `excludeTableData`). @default - the whole database */
  readonly selection?: DumpSelection;
}

/** The keys a `databases[]` entry may have; anything else is reported (a typo must not silently drop a setting). */
const DATABASE_KEYS = [
  'name',
  'secret',
  'secretFormat',
  'secretField',
  'secretKmsKeyArn',
  'sslMode',
  'sslRootCert',
  'host',
  'securityGroupId',
  'port',
  'prefix',
  'schedule',
  'compress',
  'schemas',
  'excludeSchemas',
  'tables',
  'excludeTables',
  'excludeTableData',
] as const;
const SELECTION_KEYS = ['schemas', 'excludeSchemas', 'tables', 'excludeTables', 'excludeTableData'] as const;

/** The validated configuration of one project (README "Configuration reference" documents each key). */
export interface ProjectConfig {
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
  /** Retention tiers by the `tier` tag. @default 35 / 84 / 395 days */
  readonly retention: { readonly dailyDays: number; readonly weeklyDays: number; readonly monthlyDays: number };
  /** @default 7 */
  readonly noncurrentVersionDays: number;
  /** @default - no transition */
  readonly transition?: { readonly storageClass: TransitionClass; readonly afterDays: number };
  /** @default - no Object Lock */
  readonly objectLock?: { readonly mode: 'governance' | 'compliance'; readonly days: number };
  /** @default - SSE-S3 */
  readonly bucketKmsKeyArn?: string;
  /** Use this bucket instead of creating one. @default - a bucket is created */
  readonly existingBucket?: { readonly name: string; readonly kmsKeyArn?: string };
  /** @default 1024 */
  readonly cpu: number;
  /** @default 2048 */
  readonly memoryMiB: number;
  /** @default 'X86_64' */
  readonly cpuArchitecture: 'X86_64' | 'ARM64';
  /** @default 18 */
  readonly postgresMajorVersion: number;
  /** @default 90 */
  readonly logRetentionDays: number;
  /** @default 26 */
  readonly missedBackupAlarmHours: number;
  /** @default true */
  readonly globals: boolean;
  /** The restore drill. @default - enabled, cron(0 6 ? * MON *), 1024 CPU, 4096 MiB, 50 GiB, 7 days */
  readonly drill: {
    readonly enabled: boolean;
    readonly schedule: string;
    readonly cpu: number;
    readonly memoryMiB: number;
    readonly ephemeralStorageGiB: number;
    readonly overdueAfterDays: number;
  };
  /** The on-demand restore task, one per database. @default - enabled, 1024 CPU, 2048 MiB, 50 GiB */
  readonly restoreTask: {
    readonly enabled: boolean;
    readonly cpu: number;
    readonly memoryMiB: number;
    /** Holds the downloaded archive. */
    readonly ephemeralStorageGiB: number;
  };
}

export type TransitionClass = 'STANDARD_IA' | 'ONEZONE_IA' | 'INTELLIGENT_TIERING' | 'GLACIER_IR' | 'GLACIER' | 'DEEP_ARCHIVE';
const TRANSITION_CLASSES: readonly TransitionClass[] = [
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
];
/** The retention values CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

export const DEFAULT_SCHEDULE = 'cron(0 4 * * ? *)';
export const DEFAULT_DRILL_SCHEDULE_EXPRESSION = 'cron(0 6 ? * MON *)';

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
  'alarmEmail',
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

type Raw = Record<string, unknown>;
const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

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

/** Reads and validates the configuration from a context lookup (`app.node.tryGetContext`). */
export function loadProjectConfig(get: (key: string) => unknown): ProjectConfig {
  const problems: string[] = [];
  const ctx: Raw = {};
  const stringKeys = new Set(['project', 'account', 'region', 'prefix', 'schedule', 'alarmEmail', 'bucketKmsKeyArn', 'cpuArchitecture']);
  for (const key of CONFIG_KEYS) ctx[key] = fromContext(get(key), stringKeys.has(key), problems, key);
  return parseProjectConfig(ctx, problems);
}

/** Validates a configuration object; `problems` may already hold problems found while reading. */
export function parseProjectConfig(ctx: Raw, problems: string[] = []): ProjectConfig {
  const str = (key: string, v: unknown, opts: { required?: boolean; pattern?: RegExp; hint?: string } = {}): string | undefined => {
    if (v === undefined || v === null || v === '') {
      if (opts.required) problems.push(`${key} is required${opts.hint ? `: ${opts.hint}` : '.'}`);
      return undefined;
    }
    if (typeof v !== 'string') {
      problems.push(`${key} must be a string, got ${show(v)}.${opts.hint ? ` ${opts.hint}` : ''}`);
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      problems.push(`${key} ${show(v)} is not valid${opts.hint ? `: ${opts.hint}` : '.'}`);
      return undefined;
    }
    return v;
  };
  const int = (key: string, v: unknown, dflt: number, min: number, max: number, hint = ''): number => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(
        `${key} must be an integer ${min}-${max}, got ${show(v)}.${hint ? ` ${hint}` : ''} Leave it out for the default (${dflt}).`,
      );
      return dflt;
    }
    return v;
  };
  const bool = (key: string, v: unknown, dflt: boolean): boolean => {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') {
      problems.push(`${key} must be true or false, got ${show(v)}.`);
      return dflt;
    }
    return v;
  };
  const obj = (key: string, v: unknown): Raw | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) {
      problems.push(`${key} must be an object, got ${show(v)}.`);
      return undefined;
    }
    return v;
  };

  const project =
    str('project', ctx.project, {
      required: true,
      pattern: /^[A-Za-z][A-Za-z0-9-]{0,39}$/,
      hint: "a short name: a letter, then letters, digits or '-' (at most 40), e.g. 'orders'. It names the stack and the metrics' Project dimension.",
    }) ?? 'invalid';
  const account = str('account', ctx.account, {
    pattern: /^\d{12}$/,
    hint: "a 12-digit AWS account ID, or leave it out to deploy to the CLI's account.",
  });
  const region = str('region', ctx.region, {
    pattern: /^[a-z]{2}(-[a-z]+)+-\d$/,
    hint: "a region name such as 'eu-west-1', or leave it out.",
  });

  // VPC, imported by attributes: no lookup, so synth works offline.
  const vpcRaw = obj('vpc', ctx.vpc);
  if (ctx.vpc === undefined)
    problems.push(
      'vpc is required: {"vpcId": "vpc-…", "availabilityZones": ["eu-west-1a", …], "privateSubnetIds": ["subnet-…", …]} (one subnet per zone, in the same order).',
    );
  const vpcId = vpcRaw
    ? str('vpc.vpcId', vpcRaw.vpcId, { required: true, pattern: /^vpc-[0-9a-f]{8,17}$/, hint: "the VPC ID, e.g. 'vpc-0123456789abcdef0'." })
    : undefined;
  const idList = (key: string, v: unknown, pattern: RegExp, example: string): string[] => {
    if (!Array.isArray(v) || v.length === 0) {
      problems.push(`${key} must be a non-empty list, got ${show(v)}. Example: ${example}.`);
      return [];
    }
    const bad = v.filter((x) => typeof x !== 'string' || !pattern.test(x));
    if (bad.length > 0) problems.push(`${key} has invalid entries ${bad.map(show).join(', ')}. Example: ${example}.`);
    return v.filter((x): x is string => typeof x === 'string' && pattern.test(x));
  };
  const azs = vpcRaw
    ? idList('vpc.availabilityZones', vpcRaw.availabilityZones, /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, '["eu-west-1a", "eu-west-1b"]')
    : [];
  const subnets = vpcRaw
    ? idList('vpc.privateSubnetIds', vpcRaw.privateSubnetIds, /^subnet-[0-9a-f]{8,17}$/, '["subnet-0aaa…", "subnet-0bbb…"]')
    : [];
  if (vpcRaw && azs.length > 0 && subnets.length > 0 && subnets.length % azs.length !== 0) {
    problems.push(
      `vpc.privateSubnetIds has ${subnets.length} subnets for ${azs.length} availability zones: give one subnet per zone (or the same number per zone), in the order of vpc.availabilityZones.`,
    );
  }

  const defaultPrefix = str('prefix', ctx.prefix) ?? project;
  const schedule = scheduleExpression('schedule', ctx.schedule ?? DEFAULT_SCHEDULE, problems) ?? DEFAULT_SCHEDULE;
  const stagger = int('staggerMinutes', ctx.staggerMinutes, 0, 0, 59, 'Minutes between the starts of databases that share a server.');

  // Databases.
  const databases: DatabaseConfig[] = [];
  if (!Array.isArray(ctx.databases) || ctx.databases.length === 0) {
    problems.push(`databases must be a non-empty list of {"name": "<database>", "secret": "<secret ARN>"}, got ${show(ctx.databases)}.`);
  } else {
    const seen = new Set<string>();
    ctx.databases.forEach((d: unknown, i: number) => {
      const at = `databases[${i}]`;
      if (!isObject(d)) {
        problems.push(`${at} must be an object like {"name": "app", "secret": "arn:aws:secretsmanager:…"}, got ${show(d)}.`);
        return;
      }
      const unknown = Object.keys(d).filter((k) => !(DATABASE_KEYS as readonly string[]).includes(k));
      if (unknown.length > 0)
        problems.push(
          `${at} has unknown ${unknown.length === 1 ? 'key' : 'keys'} ${unknown.map(show).join(', ')}. Known keys: ${DATABASE_KEYS.join(', ')}.`,
        );
      const patterns = (key: string, v: unknown): string[] | undefined => {
        if (v === undefined || v === null) return undefined;
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
          problems.push(`${key} must be a list of pg_dump patterns, got ${show(v)}. Example: ["public.audit_log", "sessions_*"].`);
          return undefined;
        }
        return v;
      };
      const selection = normalizeSelection(Object.fromEntries(SELECTION_KEYS.map((k) => [k, patterns(`${at}.${k}`, d[k])])));
      problems.push(...patternProblems(selection, (f) => `${at}.${f}`), ...selectionProblems(selection, (f) => `${at}.${f}`));
      const name = str(`${at}.name`, d.name, {
        required: true,
        // eslint-disable-next-line no-control-regex -- control characters are what the pattern rules out
        pattern: /^[^\u0000-\u001f/]{1,63}$/,
        hint: 'the PostgreSQL database name (1-63 characters, no "/"), e.g. "app".',
      });
      if (name !== undefined) {
        // Names that differ only in punctuation would share construct IDs (and resources).
        const id = name.toLowerCase().replace(/[^a-z0-9]+/g, '');
        if (seen.has(id))
          problems.push(`${at}.name ${show(name)} appears twice (ignoring case and punctuation): each database is listed once.`);
        seen.add(id);
      }
      const secret = str(`${at}.secret`, d.secret, {
        required: true,
        pattern: /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+|[A-Za-z0-9/_+=.@!-]{1,512})$/,
        hint: "the secret's complete ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf) or its name.",
      });
      const secretFormat = d.secretFormat ?? 'rds';
      if (secretFormat !== 'rds' && secretFormat !== 'url') {
        problems.push(
          `${at}.secretFormat must be "rds" (JSON with host, port, username, password, dbname) or "url" (a postgres:// URL), got ${show(d.secretFormat)}.`,
        );
      }
      const secretField = str(`${at}.secretField`, d.secretField);
      if (secretField !== undefined && secretFormat !== 'url')
        problems.push(`${at}.secretField applies only with "secretFormat": "url"; remove it or set the format.`);
      const sslMode = d.sslMode ?? 'require';
      if (!(SSL_MODES as readonly unknown[]).includes(sslMode))
        problems.push(`${at}.sslMode must be one of ${SSL_MODES.join(', ')}, got ${show(sslMode)}.`);
      const host = str(`${at}.host`, d.host, {
        pattern: /^[A-Za-z0-9.-]{1,253}$/,
        hint: "a host name such as 'mydb.abc123.eu-west-1.rds.amazonaws.com'.",
      });
      if (host !== undefined && secretFormat === 'url')
        problems.push(`${at}.host applies only to "rds" secrets (a URL names its host); remove it.`);
      const securityGroupId = str(`${at}.securityGroupId`, d.securityGroupId, {
        pattern: /^sg-[0-9a-f]{8,17}$/,
        hint: "the database's security group ID, e.g. 'sg-0123456789abcdef0'.",
      });
      const secretKmsKeyArn = str(`${at}.secretKmsKeyArn`, d.secretKmsKeyArn, { pattern: /^arn:aws[a-z-]*:kms:/, hint: 'a KMS key ARN.' });
      const prefix = str(`${at}.prefix`, d.prefix) ?? defaultPrefix;
      problems.push(...prefixProblems(prefix, `${at}.prefix (default: the project's prefix)`));
      let dbSchedule = d.schedule === undefined ? schedule : (scheduleExpression(`${at}.schedule`, d.schedule, problems) ?? schedule);
      if (d.schedule === undefined && stagger > 0 && i > 0) dbSchedule = staggered(schedule, stagger * i, problems, i);
      databases.push({
        name: name ?? `invalid-${i}`,
        secret: secret ?? '',
        secretFormat: secretFormat === 'url' ? 'url' : 'rds',
        secretField,
        secretKmsKeyArn,
        sslMode: (SSL_MODES as readonly unknown[]).includes(sslMode) ? (sslMode as DatabaseConfig['sslMode']) : 'require',
        sslRootCert: str(`${at}.sslRootCert`, d.sslRootCert, {
          pattern: /^\/[^\0]*$/,
          hint: "an absolute path in the container, e.g. '/usr/local/share/pg-s3-backup/rds-global-bundle.pem' (the default for verify-ca/verify-full).",
        }),
        host,
        securityGroupId,
        port: int(`${at}.port`, d.port, 5432, 1, 65535),
        prefix,
        schedule: dbSchedule,
        compress: str(`${at}.compress`, d.compress, {
          pattern: COMPRESSION_PATTERN,
          hint: 'a pg_dump -Z value: 0-9, gzip:N, lz4[:N], zstd[:N].',
        }),
        selection,
      });
    });
  }

  const retentionRaw = obj('retention', ctx.retention) ?? {};
  const retention = {
    dailyDays: int('retention.dailyDays', retentionRaw.dailyDays, 35, 1, 36500),
    weeklyDays: int('retention.weeklyDays', retentionRaw.weeklyDays, 84, 1, 36500),
    monthlyDays: int('retention.monthlyDays', retentionRaw.monthlyDays, 395, 1, 36500),
  };

  let transition: ProjectConfig['transition'];
  const transitionRaw = obj('transition', ctx.transition);
  if (transitionRaw) {
    const storageClass = transitionRaw.storageClass;
    const afterDays = int('transition.afterDays', transitionRaw.afterDays, 30, 0, 36500);
    if (!(TRANSITION_CLASSES as readonly unknown[]).includes(storageClass)) {
      problems.push(`transition.storageClass must be one of ${TRANSITION_CLASSES.join(', ')}, got ${show(storageClass)}.`);
    } else {
      if ((storageClass === 'STANDARD_IA' || storageClass === 'ONEZONE_IA') && afterDays < 30) {
        problems.push(`transition.afterDays must be at least 30 for ${storageClass} (S3's rule), got ${afterDays}.`);
      }
      transition = { storageClass: storageClass as TransitionClass, afterDays };
    }
  }

  let objectLock: ProjectConfig['objectLock'];
  const lockRaw = obj('objectLock', ctx.objectLock);
  if (lockRaw) {
    const mode = lockRaw.mode;
    if (mode !== 'governance' && mode !== 'compliance')
      problems.push(`objectLock.mode must be "governance" or "compliance", got ${show(mode)}.`);
    if (lockRaw.days === undefined) problems.push('objectLock.days is required: how long each backup is locked, e.g. 35.');
    const days = int('objectLock.days', lockRaw.days, 35, 1, 36500);
    if (mode === 'governance' || mode === 'compliance') objectLock = { mode, days };
  }

  const bucketKmsKeyArn = str('bucketKmsKeyArn', ctx.bucketKmsKeyArn, { pattern: /^arn:aws[a-z-]*:kms:/, hint: 'a KMS key ARN.' });
  let existingBucket: ProjectConfig['existingBucket'];
  const existingRaw = obj('existingBucket', ctx.existingBucket);
  if (existingRaw) {
    const name = str('existingBucket.name', existingRaw.name, {
      required: true,
      pattern: BUCKET_NAME_PATTERN,
      hint: 'an S3 bucket name.',
    });
    const kmsKeyArn = str('existingBucket.kmsKeyArn', existingRaw.kmsKeyArn, {
      pattern: /^arn:aws[a-z-]*:kms:/,
      hint: 'the KMS key ARN the bucket encrypts with, if any.',
    });
    if (name) existingBucket = { name, kmsKeyArn };
    const ignored = ['retention', 'noncurrentVersionDays', 'transition', 'objectLock', 'bucketKmsKeyArn'].filter(
      (k) => ctx[k] !== undefined,
    );
    if (ignored.length > 0)
      problems.push(
        `${ignored.join(', ')} configure a bucket the stack creates, but existingBucket is set. Configure that bucket yourself and remove ${ignored.join(', ')}, or remove existingBucket.`,
      );
  }

  const cpuArchitecture = ctx.cpuArchitecture ?? 'X86_64';
  if (cpuArchitecture !== 'X86_64' && cpuArchitecture !== 'ARM64')
    problems.push(`cpuArchitecture must be "X86_64" or "ARM64", got ${show(cpuArchitecture)}.`);

  const logRetentionDays = int('logRetentionDays', ctx.logRetentionDays, 90, 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays))
    problems.push(`logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')} (CloudWatch Logs' values), got ${logRetentionDays}.`);

  const taskSize = {
    cpu: int('cpu', ctx.cpu, 1024, 256, 16384, 'Fargate CPU units; 1024 = 1 vCPU, what single-threaded pg_dump compression uses.'),
    memoryMiB: int('memoryMiB', ctx.memoryMiB, 2048, 512, 122880),
  };
  const alarmEmail = str('alarmEmail', ctx.alarmEmail, {
    pattern: /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
    hint: "an e-mail address, e.g. 'ops@example.com'.",
  });

  const drillRaw = obj('drill', ctx.drill) ?? {};
  const drill = {
    enabled: bool('drill.enabled', drillRaw.enabled, true),
    schedule:
      scheduleExpression('drill.schedule', drillRaw.schedule ?? DEFAULT_DRILL_SCHEDULE_EXPRESSION, problems) ??
      DEFAULT_DRILL_SCHEDULE_EXPRESSION,
    cpu: int('drill.cpu', drillRaw.cpu, 1024, 256, 16384),
    memoryMiB: int('drill.memoryMiB', drillRaw.memoryMiB, 4096, 512, 122880),
    ephemeralStorageGiB: int(
      'drill.ephemeralStorageGiB',
      drillRaw.ephemeralStorageGiB,
      50,
      21,
      200,
      'It must hold the archive and the restored database.',
    ),
    overdueAfterDays: int('drill.overdueAfterDays', drillRaw.overdueAfterDays, 7, 1, 7, 'CloudWatch evaluates at most 7 days.'),
  };

  const restoreRaw = obj('restoreTask', ctx.restoreTask) ?? {};
  const restoreTask = {
    enabled: bool('restoreTask.enabled', restoreRaw.enabled, true),
    cpu: int('restoreTask.cpu', restoreRaw.cpu, 1024, 256, 16384),
    memoryMiB: int('restoreTask.memoryMiB', restoreRaw.memoryMiB, 2048, 512, 122880),
    ephemeralStorageGiB: int(
      'restoreTask.ephemeralStorageGiB',
      restoreRaw.ephemeralStorageGiB,
      50,
      21,
      200,
      'It must hold the downloaded archive (Fargate gives at most 200).',
    ),
  };

  problems.push(...fargateSizeProblems('cpu', taskSize.cpu, 'memoryMiB', taskSize.memoryMiB));
  if (drill.enabled) problems.push(...fargateSizeProblems('drill.cpu', drill.cpu, 'drill.memoryMiB', drill.memoryMiB));
  if (restoreTask.enabled)
    problems.push(...fargateSizeProblems('restoreTask.cpu', restoreTask.cpu, 'restoreTask.memoryMiB', restoreTask.memoryMiB));

  const config: ProjectConfig = {
    project,
    account,
    region,
    vpc: { vpcId: vpcId ?? '', availabilityZones: azs, privateSubnetIds: subnets },
    databases,
    alarmEmail,
    retention,
    noncurrentVersionDays: int('noncurrentVersionDays', ctx.noncurrentVersionDays, 7, 1, 36500),
    transition,
    objectLock,
    bucketKmsKeyArn,
    existingBucket,
    cpu: taskSize.cpu,
    memoryMiB: taskSize.memoryMiB,
    cpuArchitecture: cpuArchitecture === 'ARM64' ? 'ARM64' : 'X86_64',
    postgresMajorVersion: int(
      'postgresMajorVersion',
      ctx.postgresMajorVersion,
      18,
      10,
      99,
      'Use at least the newest server major you back up.',
    ),
    logRetentionDays,
    missedBackupAlarmHours: int('missedBackupAlarmHours', ctx.missedBackupAlarmHours, 26, 1, 168, 'CloudWatch evaluates at most 7 days.'),
    globals: bool('globals', ctx.globals, true),
    drill,
    restoreTask,
  };
  if (problems.length > 0) throw new ProjectConfigError(problems);
  return config;
}

/** Validates an EventBridge Scheduler expression: cron(6 fields), rate(…) or at(…). */
function scheduleExpression(key: string, v: unknown, problems: string[]): string | undefined {
  const example = 'e.g. "cron(0 4 * * ? *)" (04:00 UTC daily) or "rate(12 hours)"';
  if (typeof v !== 'string') {
    problems.push(`${key} must be a schedule expression string, ${example}; got ${show(v)}.`);
    return undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(v.trim());
  if (cron) {
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== 6) {
      problems.push(
        `${key} ${show(v)} has ${fields.length} fields; EventBridge cron has 6 (minutes hours day-of-month month day-of-week year), ${example}.`,
      );
      return undefined;
    }
    if ((fields[2] === '?') === (fields[4] === '?')) {
      problems.push(`${key} ${show(v)}: exactly one of day-of-month (3rd field) and day-of-week (5th field) must be '?', ${example}.`);
      return undefined;
    }
    return v.trim();
  }
  if (/^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$/.test(v.trim()) || /^at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)$/.test(v.trim()))
    return v.trim();
  problems.push(`${key} ${show(v)} is not a schedule expression, ${example}.`);
  return undefined;
}

/** `schedule` with its minute moved by `offset`; a problem if the minute is not a plain number or passes 59. */
function staggered(schedule: string, offset: number, problems: string[], index: number): string {
  const m = /^cron\((\d{1,2})(\s.*)\)$/.exec(schedule);
  if (!m) {
    problems.push(
      `staggerMinutes needs a schedule whose minute field is a plain number, e.g. "cron(0 4 * * ? *)", got ${show(schedule)}. Give databases[${index}].schedule instead.`,
    );
    return schedule;
  }
  const minute = Number(m[1]) + offset;
  if (minute > 59) {
    problems.push(
      `staggerMinutes puts databases[${index}] at minute ${minute}, past 59. Lower staggerMinutes or give databases[${index}].schedule.`,
    );
    return schedule;
  }
  return `cron(${minute}${m[2]})`;
}
