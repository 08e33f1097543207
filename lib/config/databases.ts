import { COMPRESSION_PATTERN, prefixProblems, SSL_MODES, SslMode } from '../../task/src/contract';
import { DumpSelection, normalizeSelection, patternProblems, selectionProblems } from '../../task/src/contract';
import { MAX_JOBS } from '../private/fargate-size';
import { ContextReader, isObject, Raw, show } from './reader';
import { DEFAULT_SCHEDULE, scheduleExpression, staggered } from './schedule';

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
  /** @default - DatabaseConnection's ('require') */
  readonly sslMode?: SslMode;
  /** CA bundle path in the container for verify-ca/verify-full. @default - the RDS bundle in the image */
  readonly sslRootCert?: string;
  /** Server host name when the secret has no `host` field (RDS-managed master secrets). */
  readonly host?: string;
  /** The database's security group, opened to the task on `port`. */
  readonly securityGroupId?: string;
  /** @default - DatabaseConnection's (5432) */
  readonly port?: number;
  /** Key prefix. @default - the project's `prefix` */
  readonly prefix: string;
  /** Schedule expression for this database (after staggering). @default - PostgresBackup's (04:00 UTC) */
  readonly schedule?: string;
  readonly compress?: string;
  /** What to dump (pg_dump patterns: `schemas`, `excludeSchemas`, `tables`, `excludeTables`, `excludeTableData`). @default - the whole database */
  readonly selection?: DumpSelection;
  /** Streams of its backup (BACKUP_JOBS), and jobs of its drill and restore (RESTORE_JOBS); they size the tasks. @default - the project's `jobs`, else PostgresBackup's (1) */
  readonly jobs?: number;
}

/** The keys a `databases[]` entry may have; anything else is refused (a typo must not silently drop a setting). */
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
  'jobs',
  'schemas',
  'excludeSchemas',
  'tables',
  'excludeTables',
  'excludeTableData',
] as const;
const SELECTION_KEYS = ['schemas', 'excludeSchemas', 'tables', 'excludeTables', 'excludeTableData'] as const;

/**
 * The most databases one project (one stack) holds. Each database is a nested stack of its own
 * (about 30 resources), so CloudFormation's 500 resources per template are not the limit. The
 * project's dashboard is: 4 widgets per database beside its 2, and CloudWatch allows 500 per
 * dashboard (next come the stack's outputs: 5 and one per database, of 200 allowed).
 * test/bin/limits.test.ts synthesizes a project of exactly this many and checks every limit.
 */
export const MAX_DATABASES = 124;

/** What every entry of `databases` is read with: the project's prefix, schedule and stagger. */
interface ProjectDefaults {
  readonly defaultPrefix: string;
  readonly schedule?: string;
  readonly stagger: number;
  readonly jobs?: number;
}

/**
 * Validates `databases`: each entry's name, secret and its form, TLS, network, prefix, schedule
 * (staggered by position when the project asks for it) and dump selection.
 */
export function parseDatabases(r: ContextReader, ctx: Raw, project: ProjectDefaults): DatabaseConfig[] {
  if (!Array.isArray(ctx.databases) || ctx.databases.length === 0) {
    r.problems.push(`databases must be a non-empty list of {"name": "<database>", "secret": "<secret ARN>"}, got ${show(ctx.databases)}.`);
    return [];
  }
  if (ctx.databases.length > MAX_DATABASES)
    r.problems.push(
      `databases: ${ctx.databases.length} databases, but a project holds at most ${MAX_DATABASES} (its dashboard has 4 widgets per database, and CloudWatch allows 500 per dashboard). Split them into two projects.`,
    );
  const seen = new Set<string>();
  return ctx.databases.flatMap((d: unknown, i: number) => {
    if (!isObject(d)) {
      r.problems.push(`databases[${i}] must be an object like {"name": "app", "secret": "arn:aws:secretsmanager:…"}, got ${show(d)}.`);
      return [];
    }
    return [parseDatabase(r, d, i, project, seen)];
  });
}

/** One entry of `databases` (`databases[i]`); `seen` holds the names of the entries before it. */
function parseDatabase(r: ContextReader, d: Raw, i: number, project: ProjectDefaults, seen: Set<string>): DatabaseConfig {
  const at = `databases[${i}]`;
  r.unknownKeys(at, d, DATABASE_KEYS);
  const selection = parseSelection(r, d, at);
  const name = parseName(r, d, at, seen);
  const secret = parseSecret(r, d, at);
  const server = parseServer(r, d, at, secret.secretFormat);
  const secretKmsKeyArn = r.str(`${at}.secretKmsKeyArn`, d.secretKmsKeyArn, {
    pattern: /^arn:aws[a-z-]*:kms:/,
    hint: 'a KMS key ARN.',
  });
  const prefix = r.str(`${at}.prefix`, d.prefix) ?? project.defaultPrefix;
  r.problems.push(...prefixProblems(prefix, `${at}.prefix (default: the project's prefix)`));
  const schedule = databaseSchedule(r, d.schedule, i, project);
  const jobs = parseJobs(r, d, at, project, selection);
  return {
    name: name ?? `invalid-${i}`,
    ...secret,
    secretKmsKeyArn,
    sslMode: server.sslMode,
    sslRootCert: r.str(`${at}.sslRootCert`, d.sslRootCert, {
      pattern: /^\/[^\0]*$/,
      hint: "an absolute path in the container, e.g. '/usr/local/share/pg-s3-backup/rds-global-bundle.pem' (the default for verify-ca/verify-full).",
    }),
    host: server.host,
    securityGroupId: server.securityGroupId,
    port: r.int(`${at}.port`, d.port, 1, 65535, { default: 5432 }),
    prefix,
    schedule,
    compress: r.str(`${at}.compress`, d.compress, {
      pattern: COMPRESSION_PATTERN,
      hint: 'a pg_dump -Z value: 0-9, gzip:N, lz4[:N], zstd[:N].',
    }),
    selection,
    jobs,
  };
}

/** The entry's streams (its own `jobs`, else the project's), refused beside a selection, which is one stream. */
function parseJobs(
  r: ContextReader,
  d: Raw,
  at: string,
  project: ProjectDefaults,
  selection: DumpSelection | undefined,
): number | undefined {
  const jobs =
    r.int(`${at}.jobs`, d.jobs, 1, MAX_JOBS, {
      default: project.jobs ?? 1,
      hint: "Streams of the backup, each with a vCPU (Fargate's largest task has 16); the project's jobs when left out.",
    }) ?? (d.jobs === undefined || d.jobs === null ? project.jobs : undefined);
  if (jobs !== undefined && jobs > 1 && selection)
    r.problems.push(
      `${at}.jobs ${jobs}${d.jobs === undefined ? " (the project's jobs)" : ''} takes the whole database in pieces, but ${at} dumps a selection (${Object.keys(selection).join(', ')}), which is one stream. Leave out one or the other${d.jobs === undefined ? `, or set ${at}.jobs to 1` : ''}.`,
    );
  return jobs;
}

/** The dump selection: each pattern list read, normalised, and checked as pg_dump patterns. */
function parseSelection(r: ContextReader, d: Raw, at: string): DumpSelection | undefined {
  const patterns = (key: string, v: unknown): string[] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      r.problems.push(`${key} must be a list of pg_dump patterns, got ${show(v)}. Example: ["public.audit_log", "sessions_*"].`);
      return undefined;
    }
    return v;
  };
  const selection = normalizeSelection(Object.fromEntries(SELECTION_KEYS.map((k) => [k, patterns(`${at}.${k}`, d[k])])));
  r.problems.push(...patternProblems(selection, (f) => `${at}.${f}`), ...selectionProblems(selection, (f) => `${at}.${f}`));
  return selection;
}

/** The database name, refused when an earlier entry has the same one. */
function parseName(r: ContextReader, d: Raw, at: string, seen: Set<string>): string | undefined {
  const name = r.str(`${at}.name`, d.name, {
    required: true,
    // eslint-disable-next-line no-control-regex -- control characters are what the pattern rules out
    pattern: /^[^\u0000-\u001f/]{1,63}$/,
    hint: 'the PostgreSQL database name (1-63 characters, no "/"), e.g. "app".',
  });
  if (name !== undefined) {
    // Names that differ only in punctuation would share construct IDs (and resources).
    const id = name.toLowerCase().replace(/[^a-z0-9]+/g, '');
    if (seen.has(id))
      r.problems.push(`${at}.name ${show(name)} appears twice (ignoring case and punctuation): each database is listed once.`);
    seen.add(id);
  }
  return name;
}

/** The secret, its form and (for a URL) its field. */
function parseSecret(r: ContextReader, d: Raw, at: string): Pick<DatabaseConfig, 'secret' | 'secretFormat' | 'secretField'> {
  const secret = r.str(`${at}.secret`, d.secret, {
    required: true,
    pattern: /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+|[A-Za-z0-9/_+=.@!-]{1,512})$/,
    hint: "the secret's complete ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf) or its name.",
  });
  const secretFormat = d.secretFormat ?? 'rds';
  if (secretFormat !== 'rds' && secretFormat !== 'url') {
    r.problems.push(
      `${at}.secretFormat must be "rds" (JSON with host, port, username, password, dbname) or "url" (a postgres:// URL), got ${show(d.secretFormat)}.`,
    );
  }
  const secretField = r.str(`${at}.secretField`, d.secretField);
  if (secretField !== undefined && secretFormat !== 'url')
    r.problems.push(`${at}.secretField applies only with "secretFormat": "url"; remove it or set the format.`);
  return { secret: secret ?? '', secretFormat: secretFormat === 'url' ? 'url' : 'rds', secretField };
}

/** How the task reaches the server: TLS mode, host (for an "rds" secret without one) and security group. */
function parseServer(
  r: ContextReader,
  d: Raw,
  at: string,
  secretFormat: SecretFormat,
): Pick<DatabaseConfig, 'sslMode' | 'host' | 'securityGroupId'> {
  const sslMode = d.sslMode;
  if (sslMode !== undefined && !(SSL_MODES as readonly unknown[]).includes(sslMode))
    r.problems.push(`${at}.sslMode must be one of ${SSL_MODES.join(', ')}, got ${show(sslMode)}.`);
  const host = r.str(`${at}.host`, d.host, {
    pattern: /^[A-Za-z0-9.-]{1,253}$/,
    hint: "a host name such as 'mydb.abc123.eu-west-1.rds.amazonaws.com'.",
  });
  if (host !== undefined && secretFormat === 'url')
    r.problems.push(`${at}.host applies only to "rds" secrets (a URL names its host); remove it.`);
  const securityGroupId = r.str(`${at}.securityGroupId`, d.securityGroupId, {
    pattern: /^sg-[0-9a-f]{8,17}$/,
    hint: "the database's security group ID, e.g. 'sg-0123456789abcdef0'.",
  });
  return { sslMode: (SSL_MODES as readonly unknown[]).includes(sslMode) ? (sslMode as SslMode) : undefined, host, securityGroupId };
}

/**
 * The entry's schedule. Unset: the project's schedule, staggered by position, or (neither
 * given) the construct's own default.
 */
function databaseSchedule(r: ContextReader, value: unknown, i: number, project: ProjectDefaults): string | undefined {
  const { schedule, stagger } = project;
  const at = `databases[${i}]`;
  if (value !== undefined) return scheduleExpression(`${at}.schedule`, value, r.problems) ?? schedule;
  if (stagger > 0 && i > 0) return staggered(schedule ?? DEFAULT_SCHEDULE, stagger * i, r.problems, i);
  return schedule;
}
