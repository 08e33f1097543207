import { readFileSync } from 'node:fs';
import { ParsedInput } from './parse';
import { BUCKET_NAME_PATTERN, prefixProblems, trimPrefix } from '../contract';
import { LogFormat } from '../log';
import { databaseNameProblem } from '../postgres/connection';
import { pgTools, PgTools } from '../postgres/tools';
import { StorageConfig } from '../storage/s3';

/** Settings every command shares: storage, client programs, output. */
export interface CommonConfig {
  readonly storage: StorageConfig;
  readonly tools: PgTools;
  readonly logFormat: LogFormat;
  readonly metrics: { readonly namespace: string; readonly project?: string };
}

/**
 * The format to report configuration problems in: the configured one when `--log-format` or
 * LOG_FORMAT gave a valid value; else undefined, and the caller keeps its own (the
 * environment's, or `auto`).
 */
export function problemLogFormat(input: ParsedInput, common: CommonConfig): LogFormat | undefined {
  return input.sources.logFormat === undefined ? undefined : common.logFormat;
}

/** The log format: `auto` is text on a terminal and JSON otherwise (CloudWatch). */
export function resolveLogFormat(setting: unknown, isTty: boolean): LogFormat {
  return setting === 'json' || setting === 'text' ? setting : isTty ? 'text' : 'json';
}

/**
 * Validates the shared settings (storage, output, and the name in --dbname/PGDATABASE),
 * appending every problem found.
 */
export function commonConfig(input: ParsedInput, isTty: boolean, problems: string[]): CommonConfig {
  const v = input.values;
  const bucket = v.bucket;
  if (!bucket) problems.push('BACKUP_BUCKET (or --bucket) is required: the name of the S3 bucket that holds the backups.');
  else if (!BUCKET_NAME_PATTERN.test(bucket)) {
    problems.push(`BACKUP_BUCKET '${bucket}' is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-').`);
  }
  // Every command reads --dbname: as the database to dump, or as the folder of its backups.
  const nameProblem = v.dbname === undefined ? undefined : databaseNameProblem(v.dbname, input.sources.dbname ?? '--dbname');
  if (nameProblem) problems.push(nameProblem);
  const prefix = v.prefix;
  if (prefix !== undefined) problems.push(...prefixProblems(prefix));
  const endpoint = v.s3Endpoint;
  if (endpoint !== undefined) {
    if (!URL.canParse(endpoint) || !['http:', 'https:'].includes(new URL(endpoint).protocol))
      problems.push(`S3_ENDPOINT '${endpoint}' is not an http(s) URL. Example: http://127.0.0.1:4569`);
  }
  return {
    storage: {
      bucket: bucket ?? '',
      prefix: trimPrefix(prefix) || undefined,
      endpoint,
      region: v.region,
      maxAttempts: v.s3MaxAttempts,
      timeoutSeconds: v.s3TimeoutSeconds,
      checksum: v.s3Checksum,
    },
    tools: pgTools(v.pgBinDir),
    logFormat: resolveLogFormat(v.logFormat, isTty),
    metrics: {
      namespace: v.metricsNamespace,
      project: v.project,
    },
  };
}

/** Reads a small system file, or undefined when it does not exist. */
export function readSystemFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
