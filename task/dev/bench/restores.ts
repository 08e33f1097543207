import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LocalPostgres } from '../../../test/support/postgres/local-postgres';
import { openObjectInParts } from '../../src/archive/objects';
import { BenchContext } from './commands';
import { eventOf, timeCommand } from './measure';
import { median, round } from './report';

/** The restores the benchmark compares, each into a new database. */
export type RestoreCommand = 'pg_restore-file' | 'restore' | 'by-hand' | 'pg_restore-j2-file' | 'restore-j2';
const ORDER: readonly RestoreCommand[] = ['pg_restore-file', 'restore', 'by-hand', 'pg_restore-j2-file', 'restore-j2'];

export interface DownloadRun {
  readonly how: 'one GET' | 'parts';
  readonly round: number;
  readonly wallSeconds: number;
}

export interface RestoreRun {
  readonly command: RestoreCommand;
  readonly round: number;
  readonly wallSeconds: number;
  readonly treeCpuSeconds: number;
}

/** What the restore rows report: medians, and each project restore over its limit (median of per-round ratios). */
export interface RestoreFigures {
  readonly archiveBytes: number;
  readonly medianWallSeconds: Record<RestoreCommand, number>;
  readonly singleJobOverLocalFile: number;
  /** Single-job restore over the by-hand pipeline; undefined without awscli v2. */
  readonly singleJobOverByHand?: number;
  readonly jobs2OverLocalFile: number;
  readonly perRound: { readonly singleJob: number[]; readonly byHand?: number[]; readonly jobs2: number[] };
  readonly runs: readonly RestoreRun[];
  /** The archive downloaded with one GET and with ranged GETs 4 at once: medians. */
  readonly downloadSeconds: { readonly oneGet: number; readonly parts: number };
  readonly downloads: readonly DownloadRun[];
}

/**
 * Restores one stored backup, `rounds` times in a rotating order, four ways into a new database:
 * - `pg_restore-file`: the limit, `pg_restore --single-transaction -d new <local file>` (the
 *   archive already on disk, one transaction, as the CLI's single-job restore runs);
 * - `restore`: the CLI's `restore --key … --target new` (one pass: the object streams into
 *   pg_restore and psql, committed once size and SHA-256 match);
 * - `by-hand`: what a person types, `aws s3 cp s3://… - | pg_restore --single-transaction -d new`
 *   (pipefail; no check of the bytes), when awscli v2 is installed (`aws`);
 * - `pg_restore-j2-file` and `restore-j2`: the local file and the CLI with two jobs.
 */
export async function measureRestores(
  ctx: BenchContext,
  pg: LocalPostgres,
  client: S3Client,
  key: string,
  rounds: number,
  say: (line: string) => void,
  aws?: string,
): Promise<RestoreFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-bench-restore-'));
  try {
    const file = join(dir, 'archive.dump');
    // The archive's download two ways, in this process, `rounds` times each (alternating): one
    // GET, as before, and the ranged GETs 4 at once that restore --jobs and verify now make.
    const downloads: DownloadRun[] = [];
    const storage = {
      bucket: ctx.s3.bucket,
      endpoint: ctx.s3.endpoint,
      region: 'us-east-1',
      maxAttempts: 3,
      timeoutSeconds: 60,
      checksum: 'none' as const,
    };
    for (let r = 1; r <= rounds; r++) {
      const ways: Array<DownloadRun['how']> = r % 2 ? ['one GET', 'parts'] : ['parts', 'one GET'];
      for (const how of ways) {
        const started = process.hrtime.bigint();
        const body =
          how === 'parts'
            ? await openObjectInParts(client, storage, key)
            : ((await client.send(new GetObjectCommand({ Bucket: ctx.s3.bucket, Key: key }))).Body as Readable);
        await pipeline(body, createWriteStream(file));
        downloads.push({ how, round: r, wallSeconds: round(Number(process.hrtime.bigint() - started) / 1e9, 3) });
        say(`  download (${how.padEnd(7)}) ${downloads[downloads.length - 1].wallSeconds.toFixed(2).padStart(6)} s`);
      }
    }
    const prefix = key.split('/').slice(0, -2).join('/');
    const base = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ...ctx.pgEnv,
    };
    const cliEnv = restoreCliEnv(ctx, ctx.pgEnv, prefix, dir);
    const target = (db: string) => `postgres://${pg.user}@127.0.0.1:${pg.port}/${db}`;
    const runs: RestoreRun[] = [];
    for (let r = 1; r <= rounds; r++) {
      say(`restore round ${r}/${rounds}`);
      const order = [...ORDER.slice((r - 1) % ORDER.length), ...ORDER.slice(0, (r - 1) % ORDER.length)];
      for (const command of order) {
        if (command === 'by-hand' && !aws) continue;
        const db = `bench_restore_${command.replace(/\W/g, '_')}_${r}`;
        let t;
        if (command === 'by-hand') {
          await pg.createDatabase(db);
          const script =
            'set -o pipefail; "$AWS" s3 cp "s3://$BUCKET/$KEY" - --endpoint-url "$ENDPOINT" --only-show-errors | "$PG_RESTORE" --no-password --exit-on-error --single-transaction --dbname "$DB"';
          t = await timeCommand('/bin/bash', ['-c', script], {
            ...base,
            ...ctx.s3.env,
            AWS_DEFAULT_REGION: 'us-east-1',
            AWS_PAGER: '',
            AWS: aws!,
            BUCKET: ctx.s3.bucket,
            KEY: key,
            ENDPOINT: ctx.s3.endpoint,
            PG_RESTORE: join(ctx.pgBinDir, 'pg_restore'),
            DB: db,
          });
        } else if (command === 'pg_restore-file' || command === 'pg_restore-j2-file') {
          await pg.createDatabase(db);
          const jobs = command === 'pg_restore-j2-file' ? ['--jobs=2'] : ['--single-transaction'];
          t = await timeCommand(
            join(ctx.pgBinDir, 'pg_restore'),
            ['--no-password', '--exit-on-error', ...jobs, '--dbname', db, file],
            base,
          );
        } else {
          const jobs = command === 'restore-j2' ? ['--jobs', '2'] : [];
          t = await timeCommand(process.execPath, [ctx.cli, 'restore', '--key', key, '--target', target(db), ...jobs], cliEnv);
          eventOf(t.stdout, 'restore.complete');
        }
        runs.push({ command, round: r, wallSeconds: t.wallSeconds, treeCpuSeconds: t.treeCpuSeconds });
        say(`  ${command.padEnd(19)} ${t.wallSeconds.toFixed(1).padStart(6)} s`);
        await pg.dropDatabase(db);
      }
    }
    const wall = (c: RestoreCommand, r: number) => runs.find((x) => x.command === c && x.round === r)!.wallSeconds;
    const rs = Array.from({ length: rounds }, (_, i) => i + 1);
    const singleJob = rs.map((r) => round(wall('restore', r) / wall('pg_restore-file', r), 3));
    const byHand = aws ? rs.map((r) => round(wall('restore', r) / wall('by-hand', r), 3)) : undefined;
    const jobs2 = rs.map((r) => round(wall('restore-j2', r) / wall('pg_restore-j2-file', r), 3));
    return {
      archiveBytes: statSync(file).size,
      medianWallSeconds: Object.fromEntries(
        ORDER.filter((c) => runs.some((x) => x.command === c)).map((c) => [
          c,
          round(median(runs.filter((x) => x.command === c).map((x) => x.wallSeconds))),
        ]),
      ) as Record<RestoreCommand, number>,
      singleJobOverLocalFile: median(singleJob),
      singleJobOverByHand: byHand && median(byHand),
      jobs2OverLocalFile: median(jobs2),
      perRound: { singleJob, byHand, jobs2 },
      downloadSeconds: {
        oneGet: median(downloads.filter((d) => d.how === 'one GET').map((d) => d.wallSeconds)),
        parts: median(downloads.filter((d) => d.how === 'parts').map((d) => d.wallSeconds)),
      },
      downloads,
      runs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The environment of a timed `restore` run: the backups under `prefix`, scratch files in `dir`, JSON log lines. */
export function restoreCliEnv(ctx: BenchContext, pgEnv: Record<string, string>, prefix: string, dir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    ...pgEnv,
    ...ctx.s3.env,
    PG_BIN_DIR: ctx.pgBinDir,
    BACKUP_PREFIX: prefix,
    RESTORE_TEMP_DIR: dir,
    BACKUP_PROGRESS_SECONDS: '3600',
    LOG_FORMAT: 'json',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}
