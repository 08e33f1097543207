import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Outcome } from './outcome';

/**
 * The Prometheus textfile-collector file (node_exporter `--collector.textfile.directory`): one
 * file for every database the host backs up and drills, each series labelled with its
 * `database` (and `project` when one is configured).
 *
 * One file, not one per run or per database: a run rewrites only its own databases' series of
 * its own kind (a backup leaves the drill's series alone and the other way round) and keeps
 * every other series the previous file held, so a database backed up yesterday by another
 * timer keeps its last success. Writers take a lock file beside it (timers of several
 * databases often fire in the same minute) and replace the file by a rename, so node_exporter
 * never reads half a file.
 */

/** One metric family of the file. */
interface Family {
  readonly name: string;
  readonly help: string;
}

/** The families, in the order the file lists them. All are gauges. */
export const METRIC_FAMILIES = {
  backupLastSuccess: {
    name: 'pg_s3_backup_last_success_timestamp_seconds',
    help: 'When the last successful backup of the database completed (Unix time).',
  },
  backupLastAttempt: {
    name: 'pg_s3_backup_last_attempt_timestamp_seconds',
    help: 'When the last backup attempt of the database ended, successful or not (Unix time).',
  },
  backupLastExitCode: {
    name: 'pg_s3_backup_last_exit_code',
    help: 'Exit code of the last backup attempt of the database (0 success, 3 database, 4 storage, 5 integrity, 7 local disk, 130 interrupted).',
  },
  backupLastDuration: { name: 'pg_s3_backup_last_duration_seconds', help: 'How long the last backup attempt of the database took.' },
  backupLastBytes: { name: 'pg_s3_backup_last_success_bytes', help: 'Stored size of the last successful backup of the database.' },
  drillSuccess: {
    name: 'pg_s3_backup_drill_success',
    help: 'Whether the last verification (restore drill) of the database passed: 1 yes, 0 no.',
  },
  drillLastSuccess: {
    name: 'pg_s3_backup_drill_last_success_timestamp_seconds',
    help: 'When the last passing verification (restore drill) of the database ended (Unix time).',
  },
  drillLastAttempt: {
    name: 'pg_s3_backup_drill_last_attempt_timestamp_seconds',
    help: 'When the last verification (restore drill) of the database ended, passing or not (Unix time).',
  },
  drillLastExitCode: {
    name: 'pg_s3_backup_drill_last_exit_code',
    help: 'Exit code of the last verification (restore drill) of the database (0 passed).',
  },
  drillLastDuration: {
    name: 'pg_s3_backup_drill_last_duration_seconds',
    help: 'How long the last verification (restore drill) of the database took.',
  },
} as const satisfies Record<string, Family>;

const FAMILY_ORDER: readonly Family[] = Object.values(METRIC_FAMILIES);

/** One sample: a family, its labels as written (`{database="orders"}`), and the value. */
export interface Sample {
  readonly name: string;
  readonly labels: string;
  readonly value: number;
}

/** A label value as the text format wants it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The label set of a database's series, in a fixed order (so that the same series is written the same way every run). */
export function labelsOf(database: string, project: string | undefined): string {
  const pairs: [string, string][] = [['database', database]];
  if (project !== undefined) pairs.push(['project', project]);
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** The samples an outcome sets: its attempt always; its success time (and a backup's size) only when it succeeded. */
export function outcomeSamples(outcome: Outcome, project: string | undefined): Sample[] {
  const labels = labelsOf(outcome.database, project);
  const at = Math.round(outcome.finishedAt.getTime() / 1000);
  const ok = outcome.exitCode === 0;
  const f = METRIC_FAMILIES;
  const sample = (family: Family, value: number): Sample => ({ name: family.name, labels, value });
  if (outcome.kind === 'backup') {
    return [
      sample(f.backupLastAttempt, at),
      sample(f.backupLastExitCode, outcome.exitCode),
      sample(f.backupLastDuration, outcome.durationSeconds),
      ...(ok ? [sample(f.backupLastSuccess, at)] : []),
      ...(ok && outcome.bytes !== undefined ? [sample(f.backupLastBytes, outcome.bytes)] : []),
    ];
  }
  return [
    sample(f.drillLastAttempt, at),
    sample(f.drillLastExitCode, outcome.exitCode),
    sample(f.drillLastDuration, outcome.durationSeconds),
    sample(f.drillSuccess, ok ? 1 : 0),
    ...(ok ? [sample(f.drillLastSuccess, at)] : []),
  ];
}

/** A sample line as this module writes it: `name{labels} value` (label values may hold `}` and spaces, escaped quotes). */
const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?[ \t]+(\S+)$/;

/**
 * The samples of a previous file that this module knows (its own families); other lines
 * (comments, families of another version) are left out, and counted.
 */
export function parseSamples(text: string): { samples: Sample[]; ignored: number } {
  const known = new Set(FAMILY_ORDER.map((f) => f.name));
  const samples: Sample[] = [];
  let ignored = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    const value = m ? Number(m[3]) : NaN;
    if (!m || !known.has(m[1]) || Number.isNaN(value)) {
      ignored++;
      continue;
    }
    samples.push({ name: m[1], labels: m[2] ?? '', value });
  }
  return { samples, ignored };
}

/** The file's text: each family with `# HELP` and `# TYPE`, its series sorted by labels; families without series are left out. */
export function renderSamples(samples: readonly Sample[]): string {
  const out: string[] = [];
  for (const family of FAMILY_ORDER) {
    const series = samples.filter((s) => s.name === family.name).sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0));
    if (series.length === 0) continue;
    out.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} gauge`);
    for (const s of series) out.push(`${s.name}${s.labels} ${s.value}`);
  }
  return out.join('\n') + '\n';
}

/** The previous samples with this run's replacing the same series (same family and labels). */
export function mergeSamples(previous: readonly Sample[], fresh: readonly Sample[]): Sample[] {
  const byKey = new Map<string, Sample>();
  for (const s of [...previous, ...fresh]) byKey.set(s.name + s.labels, s);
  return [...byKey.values()];
}

/** What writing the file did. */
export interface MetricsFileWrite {
  readonly series: number;
  /** Lines of the previous file that were not series of this module, dropped. */
  readonly ignored: number;
}

/** How long a lock file may stand before it is taken for a crashed writer's. Writing takes milliseconds. */
const STALE_LOCK_MS = 30_000;
/** How long to wait for another writer before giving up. */
const LOCK_WAIT_MS = 10_000;

/**
 * Writes `outcomes` into the metrics file at `path`, keeping the other series of the previous
 * file: under the lock `<path>.lock`, read the file, merge, write a temporary file in the same
 * directory (not matching `*.prom`, so node_exporter skips it), fsync it, rename it over the
 * file and fsync the directory. Readable by node_exporter (0644) whatever the umask.
 */
export async function writeMetricsFile(path: string, outcomes: readonly Outcome[], project: string | undefined): Promise<MetricsFileWrite> {
  return withLock(`${path}.lock`, async () => {
    const previousText = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    const previous = parseSamples(previousText);
    const merged = mergeSamples(
      previous.samples,
      outcomes.flatMap((o) => outcomeSamples(o, project)),
    );
    await replaceFile(path, renderSamples(merged));
    return { series: merged.length, ignored: previous.ignored };
  });
}

/** Replaces `path` with `text` atomically: a reader sees the old file or the new one, never a part. */
async function replaceFile(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx', 0o644);
    try {
      await file.writeFile(text, 'utf8');
      // The service's UMask (0077) would leave it unreadable to node_exporter.
      await file.chmod(0o644);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // The rename is durable once the directory is: a crash right after leaves the new file, not none.
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/** Runs `fn` holding `lock` (created exclusively); a lock older than {@link STALE_LOCK_MS} is a crashed writer's and is taken over. */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const file = await open(lock, 'wx', 0o644);
      await file.writeFile(`${process.pid}\n`);
      await file.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const held = await stat(lock).catch(() => undefined);
      if (held && Date.now() - held.mtimeMs > STALE_LOCK_MS) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another run has held ${lock} for over ${LOCK_WAIT_MS / 1000} s`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
