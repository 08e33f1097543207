/**
 * `npm run bench`: measures what the backup pipeline costs on top of pg_dump itself.
 *
 * Loads a generated database (≥ 1.5 GB by default, cached in .bench-cache/ as an archive
 * and restored on later runs) into a throwaway cluster, then alternates, for several rounds
 * (in a rotating order, so no command always runs first):
 *   pg_dump        `pg_dump -Fc > /dev/null`, the floor;
 *   backup-discard the real CLI against a discarding S3-shaped endpoint (no storage CPU);
 *   backup-s3rver  the real CLI against s3rver;
 *   cron-s3rver    `pg_dump -Fc | aws s3 cp -` (awscli v2 at /usr/bin/aws) against the same s3rver.
 * Each target is the median of per-round ratios (absolute times on a shared machine are
 * noisy; ratios taken side by side hold). Then one run per `--levels` compression: a gzip
 * level, or with a PostgreSQL 16+ client a method (`gzip:1`, `lz4`, `zstd:3`…).
 * Prints tables and writes bench-results/bench-<time>.json and bench-results/latest.json.
 * Server and client are one toolchain: the 18 that task/dev/build-postgres.sh caches (the
 * image's major) when built, else the system's newest; the output and the JSON name it.
 *
 * Then restores of one stored backup into new databases (single job and --jobs 2, each against
 * pg_restore of the archive on local disk), --restore-rounds times.
 *
 * Then the parallel rounds (bench/parallel.ts): `backup --jobs 2` against `--jobs 1` on a
 * database of four equal tables and one where a table holds ~90 % (--parallel-size-gb each),
 * --parallel-rounds times, and `restore --jobs 2` of a parallel backup against a single-job
 * restore of a single-stream backup, --parallel-restore-rounds times; the backup process's CPU
 * per GB per stream and its peak RSS at two sizes; a table of issue #20's targets.
 * Options: --size-gb 1.5, --rounds 3, --restore-rounds 2, --levels 0,1,6,9 (or "none", or methods: 6,lz4,zstd:1),
 * --parallel on|off|only, --parallel-size-gb 1, --parallel-rounds 3, --parallel-restore-rounds 2, --cache-dir, --out-dir.
 */
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchContext, CommandName, runBackup, runCron, RunResult, runPgDump } from './bench/commands';
import { BenchDatabase, loadBenchDatabase } from './bench/database';
import { DiscardS3, startDiscardS3 } from './bench/discard-s3';
import { computeFigures, renderFigures } from './bench/figures';
import { measureParallel } from './bench/parallel';
import { MachineInfo, machineInfo, median, round, table, versionOf } from './bench/report';
import { describeClient, LocalPostgres, startLocalPostgres } from '../../test/support/postgres/local-postgres';
import { COMPRESSION_PATTERN } from '../src/contract';
import { defaultCompression } from '../src/postgres/dump';
import { clientVersion } from '../src/postgres/tools';
import { measureRestores, RestoreFigures } from './bench/restores';
import { LocalS3, startLocalS3 } from '../../test/support/s3/local-s3';

// The in-process S3 client (s3rver clean-up) would warn that future SDKs need Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = resolve(__dirname, '..', '..');
const CLI = join(__dirname, 'cli.js');
const AWS = '/usr/bin/aws';
const ORDER: readonly CommandName[] = ['pg_dump', 'backup-discard', 'backup-s3rver', 'cron-s3rver'];
const cleanups: (() => Promise<void>)[] = [];
const say = (line: string) => process.stdout.write(`${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      'size-gb': { type: 'string', default: process.env.BENCH_SIZE_GB ?? '1.5' },
      rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '3' },
      levels: { type: 'string', default: process.env.BENCH_LEVELS ?? '0,1,6,9' },
      'restore-rounds': { type: 'string', default: process.env.BENCH_RESTORE_ROUNDS ?? '2' },
      parallel: { type: 'string', default: process.env.BENCH_PARALLEL ?? 'on' },
      'parallel-size-gb': { type: 'string', default: process.env.BENCH_PARALLEL_SIZE_GB ?? '1' },
      'parallel-rounds': { type: 'string', default: process.env.BENCH_PARALLEL_ROUNDS ?? '3' },
      'parallel-restore-rounds': { type: 'string', default: process.env.BENCH_PARALLEL_RESTORE_ROUNDS ?? '2' },
      'cache-dir': { type: 'string', default: join(ROOT, '.bench-cache') },
      'out-dir': { type: 'string', default: join(ROOT, 'bench-results') },
    },
  });
  const sizeGb = Number(values['size-gb']);
  const rounds = Number(values.rounds);
  const levels = values.levels === 'none' ? [] : values.levels.split(',').map((l) => l.trim());
  const restoreRounds = Number(values['restore-rounds']);
  const parallel = values.parallel as 'on' | 'off' | 'only';
  const parallelSizeGb = Number(values['parallel-size-gb']);
  const parallelRounds = Number(values['parallel-rounds']);
  const parallelRestoreRounds = Number(values['parallel-restore-rounds']);
  if (
    !(sizeGb > 0) ||
    !Number.isInteger(rounds) ||
    rounds < 1 ||
    !Number.isInteger(restoreRounds) ||
    restoreRounds < 0 ||
    levels.some((l) => !COMPRESSION_PATTERN.test(l)) ||
    !['on', 'off', 'only'].includes(parallel) ||
    !(parallelSizeGb > 0) ||
    !Number.isInteger(parallelRounds) ||
    parallelRounds < 1 ||
    !Number.isInteger(parallelRestoreRounds) ||
    parallelRestoreRounds < 0
  ) {
    throw new Error(
      `Usage: npm run bench -- [--size-gb 1.5] [--rounds 3] [--levels 0,1,6,9|lz4,zstd:3|none] [--restore-rounds 2|0] [--parallel on|off|only] [--parallel-size-gb 1] [--parallel-rounds 3] [--parallel-restore-rounds 2|0]; got ${JSON.stringify(values)}`,
    );
  }
  return {
    sizeGb,
    rounds,
    restoreRounds,
    levels,
    parallel,
    parallelSizeGb,
    parallelRounds,
    parallelRestoreRounds,
    cacheDir: values['cache-dir'],
    outDir: values['out-dir'],
  };
}

/** Sizes of the objects under `prefix`, then deletes them (s3rver keeps everything on disk). */
async function drain(s3: LocalS3, prefix = ''): Promise<number[]> {
  const client = s3.client();
  const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  for (const o of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: o.Key! }));
  return (listed.Contents ?? []).filter((o) => o.Key!.endsWith('.dump')).map((o) => o.Size ?? 0);
}

async function main(): Promise<void> {
  const opts = options();
  const loadAtStart = loadavg();
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run bench' (it builds first).`);
  if (opts.parallel !== 'only')
    say(`pg-s3-backup bench: ${opts.sizeGb} GB database, ${opts.rounds} rounds, compression ${opts.levels.join(',') || 'none'}`);
  if (opts.parallel !== 'off')
    say(
      `parallel rounds: ${opts.parallelSizeGb} GB databases, ${opts.parallelRounds} backup rounds, ${opts.parallelRestoreRounds} restore rounds`,
    );

  const pg = await startLocalPostgres();
  cleanups.push(() => pg.stop());
  // Server and client of one toolchain: the cached 18 when built, else the system's newest.
  say(`client and server: ${describeClient(pg.binDir)}`);
  const db = opts.parallel === 'only' ? undefined : await loadBenchDatabase(pg, opts.sizeGb, opts.cacheDir, say);
  if (db)
    say(`database: ${(db.sizeBytes / 1e9).toFixed(2)} GB (${db.source}, ${db.setupSeconds.toFixed(0)} s); rows ${JSON.stringify(db.rows)}`);
  const discard = await startDiscardS3();
  cleanups.push(() => discard.stop());
  const s3 = await startLocalS3({ bucket: 'bench' });
  cleanups.push(() => s3.stop());
  const awsVersion = existsSync(AWS) ? versionOf(AWS) : undefined;
  const aws = awsVersion?.startsWith('aws-cli/2') ? AWS : undefined;
  if (!aws)
    say(`note: awscli v2 not found at ${AWS} (${awsVersion ?? 'absent'}); the cron pipeline is skipped. Debian: apt-get install awscli`);

  const ctx: BenchContext = {
    cli: CLI,
    pgBinDir: pg.binDir,
    pgEnv: pg.env(db?.name),
    discardEndpoint: discard.endpoint,
    s3: { endpoint: s3.endpoint, bucket: s3.bucket, env: s3.env() },
    aws,
  };
  const machine = machineInfo(
    versionOf(join(pg.binDir, 'pg_dump')) ?? '?',
    (await pg.psql('select version()')).trim(),
    awsVersion,
    loadAtStart,
  );
  // The rounds compare like with like: the CLI's default compression for this client, given
  // to pg_dump, the backup and the cron pipeline alike (zstd:1 with pg_dump 16+ built with it).
  const pgDump = join(pg.binDir, 'pg_dump');
  const compress = (await defaultCompression(pgDump, (await clientVersion(pgDump, 'pg_dump', {})).num)) ?? 'default';
  say(`rounds' compression: ${compress} (the CLI's default for this client)`);
  const single = db ? await singleStream({ ctx, pg, s3, discard, db, compress, aws, machine }, opts) : undefined;
  const parallel =
    opts.parallel === 'off'
      ? undefined
      : await measureParallel(
          ctx,
          pg,
          discard,
          { sizeGb: opts.parallelSizeGb, rounds: opts.parallelRounds, restoreRounds: opts.parallelRestoreRounds, compress },
          say,
        );
  const text = [
    ...(single ? [single.text] : []),
    ...(parallel ? [parallel.text] : []),
    `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.pgDump}; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end.`,
  ].join('\n\n');
  say(`\n${text}\n`);

  mkdirSync(opts.outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = {
    when: new Date().toISOString(),
    options: opts,
    machine: { ...machine, loadAverageAtEnd: loadavg().map((l) => round(l, 2)) },
    ...single?.json,
    parallel: parallel && {
      databases: parallel.databases,
      fixedNodeCpuSeconds: parallel.fixedNodeCpuSeconds,
      targets: parallel.targets,
      runs: parallel.runs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]))),
    },
    table: text,
  };
  for (const name of [`bench-${stamp}.json`, 'latest.json']) writeFileSync(join(opts.outDir, name), JSON.stringify(json, null, 2) + '\n');
  say(`wrote ${join(opts.outDir, `bench-${stamp}.json`)}`);
}

/** The single-stream rounds, restores and compression levels; returns their tables and JSON. */
async function singleStream(
  env: {
    ctx: BenchContext;
    pg: LocalPostgres;
    s3: LocalS3;
    discard: DiscardS3;
    db: BenchDatabase;
    compress: string;
    aws: string | undefined;
    machine: MachineInfo;
  },
  opts: ReturnType<typeof options>,
): Promise<{ text: string; json: Record<string, unknown> }> {
  const { ctx, pg, s3, discard, db, compress, aws, machine } = env;
  say('warm-up: one untimed pg_dump (page cache)');
  await runPgDump(ctx, 0, compress);
  // What every run costs whatever the size (Node start, connecting, listing, the manifest).
  await pg.createDatabase('bench_empty');
  const empty = await runBackup({ ...ctx, pgEnv: pg.env('bench_empty') }, 'discard', 0, compress);
  say(`fixed cost of a backup (empty database): ${empty.nodeCpuSeconds!.toFixed(2)} s CPU, ${empty.wallSeconds.toFixed(2)} s wall`);

  const runs: RunResult[] = [];
  const show = (r: RunResult) =>
    say(
      `  ${r.command.padEnd(15)} ${r.wallSeconds.toFixed(1).padStart(6)} s${r.archiveBytes ? `  ${(r.archiveBytes / 1e6).toFixed(0)} MB archive` : ''}${r.nodeCpuSeconds !== undefined ? `  node ${r.nodeCpuSeconds.toFixed(2)} s CPU, ${(r.nodePeakRssBytes! / 1e6).toFixed(0)} MB RSS` : ''}`,
    );
  for (let r = 1; r <= opts.rounds; r++) {
    say(`round ${r}/${opts.rounds}`);
    const order = [...ORDER.slice((r - 1) % ORDER.length), ...ORDER.slice(0, (r - 1) % ORDER.length)];
    for (const command of order) {
      if (command === 'cron-s3rver' && !aws) continue;
      const run =
        command === 'pg_dump'
          ? await runPgDump(ctx, r, compress)
          : command === 'backup-discard'
            ? await runBackup(ctx, 'discard', r, compress)
            : command === 'backup-s3rver'
              ? await runBackup(ctx, 's3rver', r, compress)
              : await runCron(ctx, r, compress, `cron/r${r}.dump`);
      show(run);
      runs.push(command === 'cron-s3rver' ? { ...run, archiveBytes: (await drain(s3, 'cron/'))[0] } : run);
      if (command === 'backup-s3rver') await drain(s3);
      discard.clear();
    }
  }

  // Restores of one stored backup (the rounds' default compression), against their limits.
  let restores: RestoreFigures | undefined;
  if (opts.restoreRounds > 0) {
    await runBackup(ctx, 's3rver', 0, compress);
    const listed = await s3.client().send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `s3rver-r0-${compress}/` }));
    const key = listed.Contents!.map((o) => o.Key!).find((k) => k.endsWith('.dump'))!;
    restores = await measureRestores(ctx, pg, s3.client(), key, opts.restoreRounds, say, aws);
    await drain(s3);
  }

  const levels: { level: string; pgDump: RunResult; backup: RunResult }[] = [];
  for (const level of opts.levels) {
    say(`compression ${level}`);
    const pgDump = await runPgDump(ctx, 0, level);
    show(pgDump);
    const backup = await runBackup(ctx, 'discard', 0, level);
    show(backup);
    levels.push({ level, pgDump, backup });
  }

  const figures = computeFigures(runs, db.sizeBytes);
  const discardRuns = runs.filter((r) => r.command === 'backup-discard');
  const marginalCpuSecondsPerGb = median(discardRuns.map((r) => (r.nodeCpuSeconds! - empty.nodeCpuSeconds!) / (r.archiveBytes! / 1e9)));
  const levelRows = levels.map(({ level, pgDump, backup }) => ({
    level: /^\d$/.test(level) ? Number(level) : level,
    archiveBytes: backup.archiveBytes!,
    archivePercentOfDatabase: round((backup.archiveBytes! / db.sizeBytes) * 100, 1),
    pgDumpWallSeconds: round(pgDump.wallSeconds),
    pgDumpCpuSeconds: round(pgDump.treeCpuSeconds),
    backupWallSeconds: round(backup.wallSeconds),
    backupOverPgDump: round(backup.wallSeconds / pgDump.wallSeconds),
    nodeCpuSecondsPerGb: round(backup.nodeCpuSeconds! / (backup.archiveBytes! / 1e9)),
    nodePeakRssMb: round(backup.nodePeakRssBytes! / 1e6, 1),
  }));
  const text = [
    renderFigures(figures),
    ...(levelRows.length > 0
      ? [
          table(
            [
              'compression (one run each)',
              'archive MB',
              '% of DB',
              'pg_dump wall s',
              'pg_dump CPU s',
              'backup wall s',
              'backup / pg_dump',
              'node CPU s/GB',
            ],
            levelRows.map((l) => [
              String(l.level),
              l.archiveBytes / 1e6,
              l.archivePercentOfDatabase,
              l.pgDumpWallSeconds,
              l.pgDumpCpuSeconds,
              l.backupWallSeconds,
              l.backupOverPgDump,
              l.nodeCpuSecondsPerGb,
            ]),
          ),
        ]
      : []),
    ...(restores
      ? [
          table(
            ['restore into a new database (median of rounds)', 'wall s'],
            Object.entries(restores.medianWallSeconds).map(([c, w]) => [c, w]),
          ),
          table(
            ['restore target', 'measured', 'limit', 'per round'],
            [
              [
                'single-job restore / pg_restore --single-transaction -d new <local file>',
                restores.singleJobOverLocalFile,
                1.05,
                restores.perRound.singleJob.join(', '),
              ],
              [
                'restore --jobs 2 / pg_restore -j 2 -d new <local file>',
                restores.jobs2OverLocalFile,
                1.05,
                restores.perRound.jobs2.join(', '),
              ],
              restores.singleJobOverByHand !== undefined
                ? [
                    'single-job restore / aws s3 cp - | pg_restore -1 -d new (by hand)',
                    restores.singleJobOverByHand,
                    1.0,
                    restores.perRound.byHand!.join(', '),
                  ]
                : ['single-job restore / aws s3 cp - | pg_restore -1 -d new (by hand)', '–', 1.0, 'needs awscli v2'],
            ],
          ),
        ]
      : []),
    ...(restores
      ? [
          `Download of the ${(restores.archiveBytes / 1e6).toFixed(0)} MB archive from the local S3 server (medians): one GET ${restores.downloadSeconds.oneGet.toFixed(2)} s, ranged GETs 4 at once (restore --jobs, verify) ${restores.downloadSeconds.parts.toFixed(2)} s.`,
        ]
      : []),
    `Backup process CPU: ${empty.nodeCpuSeconds!.toFixed(2)} s per run whatever the size (empty database), plus ${marginalCpuSecondsPerGb.toFixed(2)} s per GB of archive.`,
    `Database ${(db.sizeBytes / 1e9).toFixed(2)} GB, archive ${(figures.archiveBytes / 1e9).toFixed(2)} GB (${compress === 'default' ? 'gzip 6, the default' : `${compress}, the default`}), ${opts.rounds} rounds; ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.pgDump}.`,
    ...(aws ? [] : ['The cron pipeline was skipped: awscli v2 is not installed (Debian: apt-get install awscli).']),
  ].join('\n\n');
  const json = {
    database: { sizeBytes: db.sizeBytes, rows: db.rows, source: db.source },
    figures,
    fixedCost: {
      nodeCpuSeconds: round(empty.nodeCpuSeconds!),
      wallSeconds: round(empty.wallSeconds),
      nodePeakRssBytes: empty.nodePeakRssBytes,
    },
    marginalNodeCpuSecondsPerGb: round(marginalCpuSecondsPerGb),
    levels: levelRows,
    restores,
    runs: runs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]))),
    medianWallSeconds: Object.fromEntries(
      ORDER.map((c) => [c, round(median(runs.filter((r) => r.command === c).map((r) => r.wallSeconds)))]),
    ),
  };
  return { text, json };
}

async function cleanup(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().then(() => process.exit(130)));

main().then(
  () => cleanup(),
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanup();
    process.exitCode = 1;
  },
);
