import { tmpdir } from 'node:os';
import { parseInput, ParsedInput, throwIfProblems } from './parse';
import { commonConfig, CommonConfig, problemLogFormat } from './shared';
import { DbConnection, passwordInFlagProblem, targetConnection } from '../postgres/connection';
import { CommandName } from './settings';
import { backupKeyProblems } from '../contract';
import { NotifyConfig } from '../notify';
import { notifyConfig } from './notify';

/** Which backup verify/restore work on. */
export interface BackupChoice {
  readonly key?: string;
  readonly latest?: boolean;
  readonly database?: string;
}

export interface ListConfig extends CommonConfig {
  readonly database: string;
  readonly json: boolean;
}

export interface StatusConfig extends CommonConfig {
  /** Only this database; every database under the prefix when undefined. */
  readonly database?: string;
  readonly maxAgeHours?: number;
  readonly json: boolean;
}

export interface RestoreOptions {
  readonly noOwner: boolean;
  readonly noAcl: boolean;
  /** Apply the archive's database-level settings, ACL and comment to the target. */
  readonly databaseProperties: boolean;
  readonly progressSeconds: number;
}

export interface VerifyConfig extends CommonConfig, RestoreOptions {
  readonly choice: BackupChoice;
  /** Scratch database to restore into after the checks. */
  readonly restoreInto?: DbConnection;
  /** Pings, webhooks and the metrics file the drill reports to. */
  readonly notify: NotifyConfig;
  /** Jobs of the restore into `restoreInto` (RESTORE_JOBS, as `restore` reads it): the drill restores as the restore task does. */
  readonly jobs: number;
}

export interface RestoreConfig extends CommonConfig, RestoreOptions {
  readonly choice: BackupChoice;
  readonly target: DbConnection;
  readonly clean: boolean;
  readonly jobs: number;
  /** Only these tables (restore --table). */
  readonly tables?: readonly QualifiedName[];
  readonly globals: boolean;
  readonly tempDir: string;
}

function parse(command: CommandName, argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean) {
  const problems: string[] = [];
  const input = parseInput(command, argv, env, problems);
  return { input, problems, common: commonConfig(input, isTty, problems) };
}

function choiceOf(input: ParsedInput, problems: string[]): BackupChoice {
  const key = input.values.key;
  const latest = input.values.latest;
  const database = input.values.dbname;
  if (key && latest) problems.push('Give either --key or --latest, not both.');
  if (!key && !latest) problems.push('Say which backup: --key <key> (as printed by list) or --latest.');
  // Refused here, before anything is contacted: a key that reaches outside the folder it names.
  if (key) problems.push(...backupKeyProblems(key, input.sources.key ?? '--key'));
  if (latest && database === undefined) problems.push('--latest needs the database whose backups to read: set --dbname or PGDATABASE.');
  return { key, latest, database };
}

/** A table named exactly, as restore --table takes it. */
export interface QualifiedName {
  readonly schema: string;
  readonly name: string;
}

const PART = '(?:"((?:[^"]|"")+)"|([^."]+))';
const QUALIFIED = new RegExp(`^${PART}\\.${PART}$`);

/** Parses `schema.table` names (a part in double quotes may hold dots; "" is a quote), every bad one a problem. */
export function tableNames(values: readonly string[], problems: string[]): QualifiedName[] {
  return values.flatMap((value) => {
    const m = QUALIFIED.exec(value);
    if (!m) {
      problems.push(
        `--table ${JSON.stringify(value)} is not schema.table (e.g. public.orders; quote a part that holds a dot: "my.schema".orders).`,
      );
      return [];
    }
    return [{ schema: m[1]?.replace(/""/g, '"') ?? m[2], name: m[3]?.replace(/""/g, '"') ?? m[4] }];
  });
}

function restoreOptions(input: ParsedInput): RestoreOptions {
  return {
    noOwner: input.values.noOwner,
    noAcl: input.values.noAcl,
    databaseProperties: !input.values.noDatabaseProperties,
    progressSeconds: input.values.progressSeconds,
  };
}

export function listConfig(argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean): ListConfig {
  const { input, problems, common } = parse('list', argv, env, isTty);
  const database = input.values.dbname;
  if (database === undefined) problems.push('Name the database whose backups to list: --dbname or PGDATABASE.');
  throwIfProblems(problems, problemLogFormat(input, common));
  return { ...common, database: database!, json: input.values.json };
}

export function statusConfig(argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean): StatusConfig {
  const { input, problems, common } = parse('status', argv, env, isTty);
  throwIfProblems(problems, problemLogFormat(input, common));
  return {
    ...common,
    database: input.values.dbname,
    maxAgeHours: input.values.maxAgeHours,
    json: input.values.json,
  };
}

export function verifyConfig(argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean): VerifyConfig {
  const { input, problems, common } = parse('verify', argv, env, isTty);
  const choice = choiceOf(input, problems);
  const url = input.values.restoreInto;
  const leaked = passwordInFlagProblem(url, input.sources.restoreInto, 'VERIFY_RESTORE_INTO_URL');
  if (leaked) problems.push(leaked);
  const restoreInto = url === undefined ? undefined : targetConnection(url, env, problems, input.sources.restoreInto ?? '--restore-into');
  const notify = notifyConfig(input, problems);
  // The variable may be set for the restore beside it (ECS sets one environment); the flag is a request.
  if (input.sources.jobs === '--jobs' && url === undefined)
    problems.push('--jobs applies to verify only with --restore-into (the jobs of that restore); remove it, or add --restore-into.');
  throwIfProblems(problems, problemLogFormat(input, common));
  return { ...common, ...restoreOptions(input), choice, restoreInto, jobs: input.values.jobs, notify };
}

export function restoreConfig(argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean): RestoreConfig {
  const { input, problems, common } = parse('restore', argv, env, isTty);
  const choice = choiceOf(input, problems);
  const url = input.values.target;
  if (url === undefined) problems.push('Say where to restore: --target postgres://user@host:5432/dbname (or RESTORE_TARGET_URL).');
  const leaked = passwordInFlagProblem(url, input.sources.target, 'RESTORE_TARGET_URL');
  if (leaked) problems.push(leaked);
  const target = url === undefined ? undefined : targetConnection(url, env, problems, input.sources.target ?? '--target');
  const tables = input.values.restoreTable === undefined ? undefined : tableNames(input.values.restoreTable, problems);
  if (tables && input.values.clean) problems.push('--table restores into a new database: leave out --clean.');
  throwIfProblems(problems, problemLogFormat(input, common));
  return {
    ...common,
    ...restoreOptions(input),
    choice,
    target: target!,
    clean: input.values.clean,
    jobs: input.values.jobs,
    tables,
    globals: input.values.globals,
    tempDir: input.values.tempDir ?? tmpdir(),
  };
}
