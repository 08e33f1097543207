import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalPostgres } from '../../../test/support/postgres/local-postgres';
import { BenchContext, runBackup } from './commands';
import { DiscardS3 } from './discard-s3';
import { eventOf, timeCommand } from './measure';
import { loadShapedDatabase, Shape, ShapedDatabase } from './parallel-databases';
import { median, round, table } from './report';
import { restoreCliEnv } from './restores';

const GB = 1e9;
const MB = 1e6;
const SHAPES: readonly Shape[] = ['equal', 'dominant'];
const SHAPE_TEXT: Record<Shape, string> = { equal: 'four equal tables', dominant: 'one table of ~90 %' };

/** The issue's targets for `--jobs`, each checked on medians of per-round ratios. */
export const PARALLEL_TARGETS = {
  backupEqual: 0.65,
  backupDominant: 0.75,
  restore: 0.65,
  tableRestoreBytes: 0.4,
  nodeCpuSecondsPerGbPerStream: 3,
  peakRssMb: 300,
  /** "Flat": the larger database's peak RSS at most this much above the smaller's. */
  rssGrowth: 1.1,
} as const;

/** One timed CLI run of a parallel round. */
export interface ParallelRun {
  readonly shape: Shape | 'equal-quarter';
  readonly command: 'backup' | 'restore';
  readonly jobs: number;
  /** Run with `--stream-threads on` (each stream on a worker thread); otherwise the CLI's auto. */
  readonly threads?: true;
  readonly round: number;
  readonly wallSeconds: number;
  /** CPU of everything the CLI started, itself included (pg_dump, psql, zstd, pg_restore). */
  readonly treeCpuSeconds: number;
  /** CPU of the PostgreSQL server meanwhile (its backends, reaped by the postmaster). */
  readonly serverCpuSeconds: number;
  /** Backups: the CLI's own CPU and peak RSS (backup.complete), and the archive's bytes (every piece). */
  readonly nodeCpuSeconds?: number;
  readonly nodePeakRssBytes?: number;
  readonly archiveBytes?: number;
  /** Restores: the bytes the CLI read from the bucket (restore.complete). */
  readonly readBytes?: number;
}

/** `restore --table` of one of the four equal tables against a full restore of the same parallel backup. */
export interface TableRestoreFigures {
  readonly table: string;
  readonly tableReadBytes: number;
  readonly fullReadBytes: number;
}

export interface ParallelTarget {
  readonly name: string;
  readonly value: number | string;
  readonly limit: number;
  readonly met: boolean | undefined;
  readonly perRound: string;
}

export interface ParallelFigures {
  readonly databases: readonly ShapedDatabase[];
  /** The CLI's CPU for a backup of an empty database, at --jobs 1 and 2: what a run costs whatever its size. */
  readonly fixedNodeCpuSeconds: { readonly jobs1: number; readonly jobs2: number; readonly jobs2Threads: number };
  readonly runs: readonly ParallelRun[];
  readonly targets: readonly ParallelTarget[];
  readonly text: string;
}

/** CPU seconds of the cluster: the postmaster and every child it has reaped (utime, stime, cutime, cstime). */
function serverCpuSeconds(pg: LocalPostgres): number {
  const pid = readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0].trim();
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [14, 15, 16, 17].reduce((sum, f) => sum + Number(fields[f - 3]), 0) / 100;
}

/** Runs `fn` and adds the server's CPU meanwhile (after a moment for the postmaster to reap the backends). */
async function withServerCpu<T>(pg: LocalPostgres, fn: () => Promise<T>): Promise<T & { serverCpuSeconds: number }> {
  const before = serverCpuSeconds(pg);
  const result = await fn();
  await sleep(200);
  return { ...result, serverCpuSeconds: serverCpuSeconds(pg) - before };
}

const rotate = <T>(items: readonly T[], r: number): T[] => [...items.slice(r % items.length), ...items.slice(0, r % items.length)];

/**
 * The parallel rounds (issue #20's bench): loads an `equal` and a `dominant` database of
 * `sizeGb` (and an `equal` one of a quarter of it, for peak RSS at two sizes), then
 * - `rounds` rounds, each backing up every database `--jobs 1` and `--jobs 2` (rotating order)
 *   into the discarding endpoint, and the quarter database `--jobs 2`;
 * - one single-stream and one parallel backup of each into s3rver, then `restoreRounds` rounds
 *   restoring each into a new database: single-job from the single-stream backup against
 *   `restore --jobs 2` from the parallel one.
 */
export async function measureParallel(
  ctx: BenchContext,
  pg: LocalPostgres,
  discard: DiscardS3,
  opts: { sizeGb: number; rounds: number; restoreRounds: number; compress: string },
  say: (line: string) => void,
): Promise<ParallelFigures> {
  const started = Date.now();
  const databases: ShapedDatabase[] = [];
  for (const shape of SHAPES) databases.push(await loadShapedDatabase(pg, `bench_${shape}`, shape, opts.sizeGb * GB));
  const quarter = await loadShapedDatabase(pg, 'bench_equal_quarter', 'equal', (opts.sizeGb * GB) / 4);
  for (const d of [...databases, quarter])
    say(
      `database ${d.name}: ${(d.sizeBytes / GB).toFixed(2)} GB, largest table ${(d.largestShare * 100).toFixed(0)} % (${Object.entries(
        d.tables,
      )
        .map(([t, b]) => `${t} ${(b / MB).toFixed(0)} MB`)
        .join(', ')})`,
    );
  say(`parallel databases loaded in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  await pg.createDatabase('bench_parallel_empty').catch(() => undefined);
  const emptyEnv = pg.env('bench_parallel_empty');
  const fixed = {
    jobs1: (await runBackup(ctx, 'discard', 0, opts.compress, { pgEnv: emptyEnv, prefix: 'empty-j1' })).nodeCpuSeconds!,
    jobs2: (await runBackup(ctx, 'discard', 0, opts.compress, { pgEnv: emptyEnv, prefix: 'empty-j2', jobs: 2 })).nodeCpuSeconds!,
    jobs2Threads: (
      await runBackup(ctx, 'discard', 0, opts.compress, { pgEnv: emptyEnv, prefix: 'empty-j2t', jobs: 2, streamThreads: 'on' })
    ).nodeCpuSeconds!,
  };
  discard.clear();
  say(
    `fixed cost of a backup (empty database): ${fixed.jobs1.toFixed(2)} s CPU at --jobs 1, ${fixed.jobs2.toFixed(2)} s at --jobs 2, ${fixed.jobs2Threads.toFixed(2)} s at --jobs 2 --stream-threads on`,
  );

  const runs: ParallelRun[] = [];
  const show = (r: ParallelRun) =>
    say(
      `  ${`${r.command} ${r.shape} --jobs ${r.jobs}${r.threads ? ' (threads)' : ''}`.padEnd(32)} ${r.wallSeconds.toFixed(1).padStart(6)} s  server ${r.serverCpuSeconds.toFixed(1)} s CPU${
        r.archiveBytes ? `  ${(r.archiveBytes / MB).toFixed(0)} MB archive` : ''
      }${r.nodeCpuSeconds !== undefined ? `  node ${r.nodeCpuSeconds.toFixed(2)} s CPU, ${(r.nodePeakRssBytes! / MB).toFixed(0)} MB RSS` : ''}`,
    );
  const backup = async (d: ShapedDatabase, shape: ParallelRun['shape'], jobs: number, r: number, threads?: true): Promise<ParallelRun> => {
    const b = await withServerCpu(pg, () =>
      runBackup(ctx, 'discard', r, opts.compress, {
        pgEnv: pg.env(d.name),
        prefix: `par-r${r}`,
        jobs,
        streamThreads: threads ? 'on' : undefined,
      }),
    );
    discard.clear();
    const run: ParallelRun = {
      shape,
      command: 'backup',
      jobs,
      ...(threads ? { threads } : {}),
      round: r,
      wallSeconds: b.wallSeconds,
      treeCpuSeconds: b.treeCpuSeconds,
      serverCpuSeconds: b.serverCpuSeconds,
      nodeCpuSeconds: b.nodeCpuSeconds,
      nodePeakRssBytes: b.nodePeakRssBytes,
      archiveBytes: b.archiveBytes,
    };
    show(run);
    return run;
  };

  say('warm-up: one untimed --jobs 1 backup of each database (page cache)');
  for (const d of [...databases, quarter]) await runBackup(ctx, 'discard', 0, opts.compress, { pgEnv: pg.env(d.name), prefix: 'warm' });
  discard.clear();
  for (let r = 1; r <= opts.rounds; r++) {
    say(`parallel backup round ${r}/${opts.rounds}`);
    for (const d of rotate(databases, r - 1)) for (const jobs of rotate([1, 2], r - 1)) runs.push(await backup(d, d.shape, jobs, r));
    runs.push(await backup(quarter, 'equal-quarter', 2, r));
    // What worker threads cost where the cores are taken (auto would not use them here).
    runs.push(
      await backup(
        databases.find((d) => d.shape === 'equal')!,
        'equal',
        2,
        r,
        true,
      ),
    );
  }

  const restored = opts.restoreRounds > 0 ? await restoreRounds(ctx, pg, databases, opts, say) : undefined;
  if (restored) runs.push(...restored.runs);
  const targets = parallelTargets(runs, fixed, restored?.table);
  return {
    databases: [...databases, quarter],
    fixedNodeCpuSeconds: fixed,
    runs,
    targets,
    text: renderParallel(databases, quarter, runs, targets),
  };
}

/**
 * Stores a single-stream and a parallel backup of each database in s3rver, then restores them
 * side by side; last, `restore --table` of one of the four equal tables from the parallel backup.
 */
async function restoreRounds(
  ctx: BenchContext,
  pg: LocalPostgres,
  databases: readonly ShapedDatabase[],
  opts: { restoreRounds: number; compress: string },
  say: (line: string) => void,
): Promise<{ runs: ParallelRun[]; table?: TableRestoreFigures }> {
  const stored = new Map<string, { key: string; prefix: string }>();
  for (const d of databases)
    for (const jobs of [1, 2]) {
      const prefix = `par-stored-${d.shape}-j${jobs}`;
      const b = await runBackup(ctx, 's3rver', 0, opts.compress, { pgEnv: pg.env(d.name), prefix, jobs });
      stored.set(`${d.shape}-${jobs}`, { key: b.key, prefix });
    }
  const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-bench-parallel-'));
  const runs: ParallelRun[] = [];
  const restore = (d: ShapedDatabase, jobs: number, target: string, extra: readonly string[] = []) => {
    const { key, prefix } = stored.get(`${d.shape}-${jobs}`)!;
    const env = restoreCliEnv(ctx, pg.env(d.name), prefix, dir);
    const url = `postgres://${pg.user}@127.0.0.1:${pg.port}/${target}`;
    return withServerCpu(pg, () =>
      timeCommand(
        process.execPath,
        [ctx.cli, 'restore', '--key', key, '--target', url, ...(jobs > 1 ? ['--jobs', String(jobs)] : []), ...extra],
        env,
      ),
    );
  };
  try {
    for (let r = 1; r <= opts.restoreRounds; r++) {
      say(`parallel restore round ${r}/${opts.restoreRounds}`);
      for (const d of rotate(databases, r - 1))
        for (const jobs of rotate([1, 2], r - 1)) {
          const target = `bench_par_restore_${d.shape}_j${jobs}_${r}`;
          const t = await restore(d, jobs, target);
          const complete = eventOf(t.stdout, 'restore.complete');
          const run: ParallelRun = {
            shape: d.shape,
            command: 'restore',
            jobs,
            round: r,
            wallSeconds: t.wallSeconds,
            treeCpuSeconds: t.treeCpuSeconds,
            serverCpuSeconds: t.serverCpuSeconds,
            readBytes: Number(complete.bytes),
          };
          say(
            `  ${`restore ${d.shape} --jobs ${jobs}`.padEnd(32)} ${t.wallSeconds.toFixed(1).padStart(6)} s  server ${t.serverCpuSeconds.toFixed(1)} s CPU, tree ${t.treeCpuSeconds.toFixed(1)} s CPU`,
          );
          runs.push(run);
          await pg.dropDatabase(target);
        }
    }
    const equal = databases.find((d) => d.shape === 'equal');
    const full = runs.find((r) => r.command === 'restore' && r.shape === 'equal' && r.jobs === 2);
    if (!equal || !full) return { runs };
    const table = Object.keys(equal.tables).sort()[0];
    const target = 'bench_par_restore_table';
    const t = await restore(equal, 2, target, ['--table', `public.${table}`]);
    const tableReadBytes = Number(eventOf(t.stdout, 'restore.complete').bytes);
    await pg.dropDatabase(target);
    say(
      `  restore --table public.${table} --jobs 2: ${(tableReadBytes / MB).toFixed(0)} MB read, a full restore ${(full.readBytes! / MB).toFixed(0)} MB`,
    );
    return { runs, table: { table, tableReadBytes, fullReadBytes: full.readBytes! } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Per-round ratios of --jobs 2 over --jobs 1 for one shape and command. */
function ratios(runs: readonly ParallelRun[], shape: Shape, command: ParallelRun['command']): number[] {
  const rounds = [...new Set(runs.filter((r) => r.command === command && r.shape === shape).map((r) => r.round))];
  const wall = (r: number, jobs: number) =>
    runs.find((x) => x.command === command && x.shape === shape && x.round === r && x.jobs === jobs && !x.threads)?.wallSeconds;
  return rounds.flatMap((r) => {
    const [one, two] = [wall(r, 1), wall(r, 2)];
    return one && two ? [round(two / one, 3)] : [];
  });
}

/** The backup process's CPU per GB of archive, after the fixed cost of a run: each GB passes through one stream. */
const marginalCpuPerGb = (r: ParallelRun, fixed: number) => (r.nodeCpuSeconds! - fixed) / (r.archiveBytes! / GB);

function parallelTargets(
  runs: readonly ParallelRun[],
  fixed: ParallelFigures['fixedNodeCpuSeconds'],
  table: TableRestoreFigures | undefined,
): ParallelTarget[] {
  const targets: ParallelTarget[] = [];
  const ratioTarget = (name: string, values: number[], limit: number) =>
    targets.push({
      name,
      value: median(values),
      limit,
      met: values.length > 0 ? median(values) <= limit : undefined,
      perRound: values.join(', '),
    });
  ratioTarget('backup --jobs 2 / --jobs 1, four equal tables', ratios(runs, 'equal', 'backup'), PARALLEL_TARGETS.backupEqual);
  ratioTarget('backup --jobs 2 / --jobs 1, one table of ~90 %', ratios(runs, 'dominant', 'backup'), PARALLEL_TARGETS.backupDominant);
  for (const shape of SHAPES)
    if (runs.some((r) => r.command === 'restore'))
      ratioTarget(
        `restore --jobs 2 of a parallel backup / single-job restore of a single-stream backup, ${SHAPE_TEXT[shape]}`,
        ratios(runs, shape, 'restore'),
        PARALLEL_TARGETS.restore,
      );
  const tableShare = table ? round(table.tableReadBytes / table.fullReadBytes, 3) : undefined;
  targets.push({
    name: 'restore --table of one of 4 equal tables: bytes read / a full restore’s',
    value: tableShare ?? 'not measured (--parallel-restore-rounds 0)',
    limit: PARALLEL_TARGETS.tableRestoreBytes,
    met: tableShare === undefined ? undefined : tableShare <= PARALLEL_TARGETS.tableRestoreBytes,
    perRound: table
      ? `${table.table}: ${(table.tableReadBytes / MB).toFixed(0)} MB of ${(table.fullReadBytes / MB).toFixed(0)} MB (one run: bytes read do not vary)`
      : '',
  });
  const j2 = runs.filter((r) => r.command === 'backup' && r.jobs === 2 && r.shape !== 'equal-quarter' && !r.threads);
  const j1 = runs.filter((r) => r.command === 'backup' && r.jobs === 1);
  const threaded = runs.filter((r) => r.command === 'backup' && r.threads);
  const perGb = j2.map((r) => round(marginalCpuPerGb(r, fixed.jobs2), 2));
  const perGbThreads =
    threaded.length > 0 ? `; --stream-threads on: ${median(threaded.map((r) => marginalCpuPerGb(r, fixed.jobs2Threads))).toFixed(2)}` : '';
  targets.push({
    name: 'backup process CPU s per GB of archive, per stream (--jobs 2; children excluded; fixed cost of a run taken off)',
    value: median(perGb),
    limit: PARALLEL_TARGETS.nodeCpuSecondsPerGbPerStream,
    met: perGb.length > 0 ? median(perGb) <= PARALLEL_TARGETS.nodeCpuSecondsPerGbPerStream : undefined,
    perRound: `${perGb.join(', ')} (--jobs 1: ${median(j1.map((r) => marginalCpuPerGb(r, fixed.jobs1))).toFixed(2)}${perGbThreads})`,
  });
  const peak = (rs: readonly ParallelRun[]) => Math.max(...rs.map((r) => r.nodePeakRssBytes! / MB));
  const quarter = runs.filter((r) => r.command === 'backup' && r.shape === 'equal-quarter');
  const [small, large] = [peak(quarter), peak(j2)];
  targets.push({
    name: 'peak RSS MB at --jobs 2, flat in database size (largest of the runs)',
    value: large,
    limit: PARALLEL_TARGETS.peakRssMb,
    met: large <= PARALLEL_TARGETS.peakRssMb && large <= small * PARALLEL_TARGETS.rssGrowth,
    perRound: `${small.toFixed(0)} MB at a quarter of the size`,
  });
  return targets;
}

function renderParallel(
  databases: readonly ShapedDatabase[],
  quarter: ShapedDatabase,
  runs: readonly ParallelRun[],
  targets: readonly ParallelTarget[],
): string {
  const groups = [
    ...databases.flatMap((d) => [1, 2].map((jobs) => ({ shape: d.shape, db: d, command: 'backup' as const, jobs }))),
    { shape: 'equal-quarter' as const, db: quarter, command: 'backup' as const, jobs: 2 },
    ...databases
      .filter((d) => d.shape === 'equal')
      .map((d) => ({ shape: d.shape, db: d, command: 'backup' as const, jobs: 2, threads: true as const })),
    ...databases.flatMap((d) => [1, 2].map((jobs) => ({ shape: d.shape, db: d, command: 'restore' as const, jobs }))),
  ];
  const rows = groups.flatMap((g) => {
    const threads = 'threads' in g;
    const rs = runs.filter((r) => r.shape === g.shape && r.command === g.command && r.jobs === g.jobs && Boolean(r.threads) === threads);
    if (rs.length === 0) return [];
    const m = (f: (r: ParallelRun) => number) => median(rs.map(f));
    const backups = g.command === 'backup';
    return [
      [
        `${g.command} --jobs ${g.jobs}${threads ? ' --stream-threads on' : ''}, ${g.shape === 'equal-quarter' ? 'four equal tables, a quarter' : SHAPE_TEXT[g.shape]} (${(g.db.sizeBytes / GB).toFixed(2)} GB)`,
        m((r) => r.wallSeconds),
        m((r) => g.db.sizeBytes / MB / r.wallSeconds),
        m((r) => r.serverCpuSeconds),
        m((r) => r.treeCpuSeconds),
        backups ? m((r) => r.nodeCpuSeconds!) : NaN,
        backups ? m((r) => r.nodeCpuSeconds! / r.wallSeconds) : NaN,
        backups ? Math.max(...rs.map((r) => r.nodePeakRssBytes! / MB)) : NaN,
        backups ? m((r) => r.archiveBytes! / MB) : NaN,
      ],
    ];
  });
  const commands = table(
    [
      'parallel rounds (median)',
      'wall s',
      'DB MB/s',
      'server CPU s',
      'CLI tree CPU s',
      'node CPU s',
      'node cores',
      'node peak RSS MB',
      'archive MB',
    ],
    rows,
  );
  const verdicts = table(
    ['target (#20)', 'measured', 'limit', 'met', 'per round'],
    targets.map((t) => [t.name, t.value, t.limit, t.met === undefined ? '–' : t.met ? 'yes' : 'NO', t.perRound]),
  );
  return `${commands}\n\n${verdicts}`;
}
