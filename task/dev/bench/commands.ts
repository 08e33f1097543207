import { join } from 'node:path';
import { eventOf, timeCommand } from './measure';

/** The four commands the benchmark compares. */
export type CommandName = 'pg_dump' | 'backup-discard' | 'backup-s3rver' | 'cron-s3rver';

/** One run of one command. */
export interface RunResult {
  readonly command: CommandName;
  readonly round: number;
  readonly compress: string;
  readonly wallSeconds: number;
  /** CPU of everything the command started (node + pg_dump, pg_dump alone, or pg_dump + aws). */
  readonly treeCpuSeconds: number;
  /** CPU of the benchmark process meanwhile (the in-process S3 server). */
  readonly serverCpuSeconds: number;
  /** Archive size: from the backup's log, or the stored object for the cron pipeline. */
  readonly archiveBytes?: number;
  /** The backup process's own CPU and peak RSS, as it logs them in `backup.complete`. */
  readonly nodeCpuSeconds?: number;
  readonly nodePeakRssBytes?: number;
}

export interface BenchContext {
  readonly cli: string;
  readonly pgBinDir: string;
  /** libpq variables of the benchmark database, password included. */
  readonly pgEnv: Record<string, string>;
  readonly discardEndpoint: string;
  readonly s3: { readonly endpoint: string; readonly bucket: string; readonly env: Record<string, string> };
  /** awscli v2, or undefined when absent. */
  readonly aws?: string;
}

/** Node/V8 flags for the CLI's backups (BENCH_NODE_FLAGS, space-separated): for measuring start-up flags before the image gets them. */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/** Nothing from the developer's shell leaks into a timed command (no AWS_PROFILE, no PG*). */
function baseEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
}

const compressArgs = (compress: string) => (compress === 'default' ? [] : [`--compress=${compress}`]);

/** `pg_dump -Fc > /dev/null`: the baseline, with the arguments the CLI gives pg_dump. */
export async function runPgDump(ctx: BenchContext, round: number, compress: string): Promise<RunResult> {
  const t = await timeCommand(
    join(ctx.pgBinDir, 'pg_dump'),
    ['--format=custom', '--no-password', ...compressArgs(compress)],
    { ...baseEnv(), ...ctx.pgEnv },
    { discardStdout: true },
  );
  return {
    command: 'pg_dump',
    round,
    compress,
    wallSeconds: t.wallSeconds,
    treeCpuSeconds: t.treeCpuSeconds,
    serverCpuSeconds: t.benchCpuSeconds,
  };
}

/** What a parallel round changes in a backup run (the single-stream rounds use none of it). */
export interface BackupOptions {
  /** `--jobs`: above 1, a parallel backup. @default 1 (the CLI's default, no flag given) */
  readonly jobs?: number;
  /** libpq variables of another database than the bench's own. */
  readonly pgEnv?: Record<string, string>;
  /** @default `<target>-r<round>-<compress>` */
  readonly prefix?: string;
  /** `--stream-threads`. @default the CLI's (auto) */
  readonly streamThreads?: 'on' | 'off';
}

/** The real CLI (task/dist/cli.js) at default settings, against the discarding endpoint or s3rver. */
export async function runBackup(
  ctx: BenchContext,
  target: 'discard' | 's3rver',
  round: number,
  compress: string,
  options: BackupOptions = {},
): Promise<RunResult & { readonly key: string }> {
  const storage = target === 'discard' ? { ...ctx.s3.env, S3_ENDPOINT: ctx.discardEndpoint } : ctx.s3.env;
  const env = {
    ...baseEnv(),
    ...(options.pgEnv ?? ctx.pgEnv),
    ...storage,
    PG_BIN_DIR: ctx.pgBinDir,
    BACKUP_PREFIX: options.prefix ?? `${target}-r${round}-${compress}`,
    BACKUP_PROGRESS_SECONDS: '3600',
    LOG_FORMAT: 'json',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const jobs = options.jobs !== undefined && options.jobs > 1 ? ['--jobs', String(options.jobs)] : [];
  if (options.streamThreads) jobs.push('--stream-threads', options.streamThreads);
  const t = await timeCommand(process.execPath, [...NODE_FLAGS, ctx.cli, 'backup', ...compressArgs(compress), ...jobs], env);
  const done = eventOf(t.stdout, 'backup.complete');
  return {
    key: String(done.key),
    command: target === 'discard' ? 'backup-discard' : 'backup-s3rver',
    round,
    compress,
    wallSeconds: t.wallSeconds,
    treeCpuSeconds: t.treeCpuSeconds,
    serverCpuSeconds: t.benchCpuSeconds,
    archiveBytes: Number(done.bytes),
    nodeCpuSeconds: Number(done.cpuSeconds),
    nodePeakRssBytes: Number(done.maxRssBytes),
  };
}

/** The cron pipeline people write by hand: `pg_dump -Fc | aws s3 cp - s3://…` (with pipefail, so a failure is seen). */
export async function runCron(ctx: BenchContext, round: number, compress: string, key: string): Promise<RunResult> {
  if (!ctx.aws) throw new Error('awscli v2 is not installed');
  const script =
    'set -o pipefail; "$PG_DUMP" --format=custom --no-password $COMPRESS | "$AWS" s3 cp - "s3://$BUCKET/$KEY" --endpoint-url "$ENDPOINT" --only-show-errors';
  const env = {
    ...baseEnv(),
    ...ctx.pgEnv,
    ...ctx.s3.env,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_PAGER: '',
    PG_DUMP: join(ctx.pgBinDir, 'pg_dump'),
    COMPRESS: compressArgs(compress).join(' '),
    AWS: ctx.aws,
    BUCKET: ctx.s3.bucket,
    KEY: key,
    ENDPOINT: ctx.s3.endpoint,
  };
  const t = await timeCommand('/bin/bash', ['-c', script], env);
  return {
    command: 'cron-s3rver',
    round,
    compress,
    wallSeconds: t.wallSeconds,
    treeCpuSeconds: t.treeCpuSeconds,
    serverCpuSeconds: t.benchCpuSeconds,
  };
}
