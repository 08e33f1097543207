import { CommandName, RunResult } from './commands';
import { median, round, table } from './report';

const MB = 1e6;
const GB = 1e9;

/** The targets, checked on the medians of per-round ratios. */
export const TARGETS = {
  pipelineOverPgDump: 1.05,
  s3rverOverCron: 1.0,
  nodeCpuSecondsPerGb: 4,
  nodePeakRssMb: 200,
} as const;

export interface CommandSummary {
  readonly command: CommandName;
  readonly runs: number;
  readonly wallSeconds: number;
  readonly databaseReadMBps: number;
  readonly archiveWrittenMBps: number;
  readonly treeCpuSeconds: number;
  readonly nodeCpuSeconds?: number;
  readonly nodeCpuSecondsPerGb?: number;
  readonly nodePeakRssMb?: number;
  /** CPU of the in-process S3 server while the command ran. */
  readonly serverCpuSeconds: number;
}

export interface Figures {
  readonly archiveBytes: number;
  readonly commands: CommandSummary[];
  readonly targets: {
    readonly name: string;
    readonly value: number;
    readonly limit: number;
    readonly met: boolean;
    readonly perRound: number[];
  }[];
  /** pg_dump's own CPU per GB of archive, and the backup process's as a share of it. */
  readonly pgDumpCpuSecondsPerGb: number;
  readonly nodeCpuShareOfPgDump: number;
}

/** Medians per command and the target ratios, each the median of per-round ratios. */
export function computeFigures(runs: readonly RunResult[], databaseBytes: number): Figures {
  const byRound = new Map<number, Partial<Record<CommandName, RunResult>>>();
  for (const r of runs) byRound.set(r.round, { ...byRound.get(r.round), [r.command]: r });
  const rounds = [...byRound.values()];
  // pg_dump and the cron pipeline write the same archive as the backup in the same round.
  const archiveOf = (r: Partial<Record<CommandName, RunResult>>) =>
    r['backup-discard']?.archiveBytes ?? r['backup-s3rver']?.archiveBytes ?? NaN;
  const archiveBytes = median(rounds.map(archiveOf));

  const commands: CommandSummary[] = [];
  for (const command of ['pg_dump', 'backup-discard', 'backup-s3rver', 'cron-s3rver'] as const) {
    const these = rounds.filter((r) => r[command]).map((r) => ({ run: r[command]!, archive: archiveOf(r) }));
    if (these.length === 0) continue;
    const node = these.filter((t) => t.run.nodeCpuSeconds !== undefined);
    commands.push({
      command,
      runs: these.length,
      wallSeconds: median(these.map((t) => t.run.wallSeconds)),
      databaseReadMBps: median(these.map((t) => databaseBytes / MB / t.run.wallSeconds)),
      archiveWrittenMBps: median(these.map((t) => t.archive / MB / t.run.wallSeconds)),
      treeCpuSeconds: median(these.map((t) => t.run.treeCpuSeconds)),
      serverCpuSeconds: median(these.map((t) => t.run.serverCpuSeconds)),
      ...(node.length > 0
        ? {
            nodeCpuSeconds: median(node.map((t) => t.run.nodeCpuSeconds!)),
            nodeCpuSecondsPerGb: median(node.map((t) => t.run.nodeCpuSeconds! / (t.run.archiveBytes! / GB))),
            nodePeakRssMb: Math.max(...node.map((t) => t.run.nodePeakRssBytes! / MB)),
          }
        : {}),
    });
  }

  const ratio = (a: CommandName, b: CommandName) => rounds.filter((r) => r[a] && r[b]).map((r) => r[a]!.wallSeconds / r[b]!.wallSeconds);
  const perGb = rounds
    .filter((r) => r['backup-discard'])
    .map((r) => r['backup-discard']!.nodeCpuSeconds! / (r['backup-discard']!.archiveBytes! / GB));
  const rss = runs.filter((r) => r.nodePeakRssBytes !== undefined).map((r) => r.nodePeakRssBytes! / MB);
  const target = (name: string, perRound: number[], limit: number, value = median(perRound)) => ({
    name,
    value: round(value),
    limit,
    met: perRound.length > 0 && value <= limit,
    perRound: perRound.map((v) => round(v)),
  });
  const targets = [
    target(
      'backup (discarding endpoint) / pg_dump -Fc > /dev/null, wall time',
      ratio('backup-discard', 'pg_dump'),
      TARGETS.pipelineOverPgDump,
    ),
    target(
      'backup (s3rver) / cron pipeline pg_dump → aws s3 cp - (s3rver), wall time',
      ratio('backup-s3rver', 'cron-s3rver'),
      TARGETS.s3rverOverCron,
    ),
    target('backup process CPU seconds per GB of archive (discarding endpoint)', perGb, TARGETS.nodeCpuSecondsPerGb),
    target('backup process peak RSS, MB (largest of all runs)', rss, TARGETS.nodePeakRssMb, Math.max(...rss)),
  ];
  const pgDumpCpu = rounds.filter((r) => r.pg_dump).map((r) => r.pg_dump!.treeCpuSeconds / (archiveOf(r) / GB));
  const share = rounds
    .filter((r) => r.pg_dump && r['backup-discard'])
    .map((r) => r['backup-discard']!.nodeCpuSeconds! / r.pg_dump!.treeCpuSeconds);
  return { archiveBytes, commands, targets, pgDumpCpuSecondsPerGb: median(pgDumpCpu), nodeCpuShareOfPgDump: median(share) };
}

/** The tables printed at the end of a run (and pasted into docs/performance.md). */
export function renderFigures(f: Figures): string {
  const commands = table(
    [
      'command (median of rounds)',
      'wall s',
      'DB read MB/s',
      'archive MB/s',
      'CPU s (tree)',
      'node CPU s',
      'node CPU s/GB',
      'node peak RSS MB',
    ],
    f.commands.map((c) => [
      c.command,
      c.wallSeconds,
      c.databaseReadMBps,
      c.archiveWrittenMBps,
      c.treeCpuSeconds,
      c.nodeCpuSeconds ?? NaN,
      c.nodeCpuSecondsPerGb ?? NaN,
      c.nodePeakRssMb ?? NaN,
    ]),
  );
  const targets = table(
    ['target', 'measured', 'limit', 'met', 'per round'],
    f.targets.map((t) => [t.name, t.value, t.limit, t.met ? 'yes' : 'NO', t.perRound.join(', ')]),
  );
  return `${commands}\n\n${targets}\n\npg_dump CPU: ${f.pgDumpCpuSecondsPerGb.toFixed(1)} s per GB of archive; the backup process adds ${(f.nodeCpuShareOfPgDump * 100).toFixed(1)}% of that.`;
}
