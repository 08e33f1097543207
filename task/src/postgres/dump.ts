import { ChildProcessByStdio, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { abandonChild, exitOf, OutputTail, runCaptured } from '../child';
import { DbConnection, toolEnvironment } from './connection';
import { connectionHint, majorOf, PgTools } from './tools';
import { DumpSelection, selectionArgs } from '../contract';

export interface DumpOptions {
  /** pg_dump's -Z value (gzip level or method[:level]); pg_dump's default when undefined. */
  readonly compress?: string;
  /** What to dump; the whole database when undefined. */
  readonly selection?: DumpSelection;
  /** More of pg_dump's own arguments (a parallel backup's --snapshot, --schema-only, --data-only, --exclude-table-data). */
  readonly extraArgs?: readonly string[];
}

/** A running `pg_dump -Fc`. */
export interface DumpProcess {
  /** The archive bytes. Ends when pg_dump exits, successfully or not: judge by `done`. */
  readonly stdout: Readable;
  /**
   * Settles when pg_dump has exited: resolves only on exit code 0 without a signal; rejects
   * with a {@link TaskError} naming the exit and the tail of pg_dump's stderr otherwise.
   */
  readonly done: Promise<void>;
  /** What pg_dump printed on stderr (warnings on success, the cause on failure). */
  readonly stderr: OutputTail;
  /** Stops pg_dump (SIGTERM); safe to call at any time. */
  kill(): void;
}

/**
 * Why pg_dump cannot take `compress`, or undefined when it can. pg_dump 16 introduced the
 * `method[:level]` form (gzip, lz4, zstd, none); older clients accept only a gzip level 0-9,
 * and reject even `gzip:6` — after the upload has started, so the backup checks first.
 */
export function compressionProblem(compress: string | undefined, pgDumpVersionNum: number): string | undefined {
  if (compress === undefined || /^[0-9]$/.test(compress) || pgDumpVersionNum >= 160000) return undefined;
  const level = /^gzip(?::(?:level=)?([0-9]))?$/.exec(compress);
  const fix = level
    ? `use the level alone ('${level[1] ?? '6'}')`
    : compress === 'none'
      ? "use '0'"
      : 'use a gzip level 0-9, or a PostgreSQL 16+ client';
  return `BACKUP_COMPRESS '${compress}' needs pg_dump 16 or newer (the method[:level] form); this pg_dump is ${majorOf(pgDumpVersionNum)}, which takes only a gzip level 0-9: ${fix}.`;
}

/**
 * The compression of a backup that asks for none (BACKUP_COMPRESS unset) with pg_dump 16+:
 * zstd level 1. Measured on the benchmark database with pg_dump 18 (docs/performance.md, Compression), it
 * dumps about 6x faster than gzip 6, pg_dump's own default, for an archive no larger; lz4 is
 * as fast but 70 % larger. Older clients keep pg_dump's gzip 6.
 */
export const MODERN_DEFAULT_COMPRESSION = 'zstd:1';

/**
 * What a backup without BACKUP_COMPRESS uses: {@link MODERN_DEFAULT_COMPRESSION} when this
 * pg_dump is 16+ and built with zstd, else undefined (pg_dump's gzip 6). A pg_dump built
 * without zstd says so while parsing its options, before it connects: the probe points it at
 * a socket directory that does not exist, so it can only fail, and reads why.
 */
export async function defaultCompression(pgDump: string, versionNum: number): Promise<string | undefined> {
  if (versionNum < 160000) return undefined;
  const probe = await runCaptured(
    pgDump,
    [
      `--compress=${MODERN_DEFAULT_COMPRESSION}`,
      '--schema-only',
      '--no-password',
      '--dbname=host=/nonexistent-pg-s3-backup-probe dbname=probe',
    ],
    { env: toolEnvironment(process.env) },
  );
  return /does not support compression/i.test(probe.stderr) ? undefined : MODERN_DEFAULT_COMPRESSION;
}

/** The arguments for pg_dump: custom format, never prompt; the connection comes from the environment. */
export function dumpArgs(options: DumpOptions): string[] {
  return [
    '--format=custom',
    '--no-password',
    ...(options.compress !== undefined ? [`--compress=${options.compress}`] : []),
    ...selectionArgs(options.selection),
    ...(options.extraArgs ?? []),
  ];
}

/** pg_dump's stdout buffer when run under stdbuf: large writes instead of one per 4 KiB. */
const STDOUT_BUFFER = '1M';

/** coreutils' stdbuf on PATH, or undefined. */
export function findStdbuf(pathVariable = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVariable.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'stdbuf');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The program and arguments that run pg_dump. pg_dump writes its archive through C stdio,
 * whose buffer on a pipe is 4 KiB: one write(), and one wake-up of this process, per 4 KiB
 * (about 250 per MB, which cost Node more CPU than hashing the bytes). Under coreutils'
 * `stdbuf -o 1M` pg_dump itself is unchanged but writes 1 MiB at a time. Without stdbuf,
 * pg_dump runs directly. The buffer changes nothing about completeness: on any failure
 * pg_dump's exit status fails the backup, whatever was or was not flushed.
 */
export function dumpCommand(pgDump: string, args: readonly string[], stdbuf: string | undefined): { program: string; args: string[] } {
  return stdbuf ? { program: stdbuf, args: ['-o', STDOUT_BUFFER, pgDump, ...args] } : { program: pgDump, args: [...args] };
}

/** Starts pg_dump for the connection's database. The password reaches it only through its environment. */
export function startDump(tools: PgTools, conn: DbConnection, options: DumpOptions): DumpProcess {
  const command = dumpCommand(tools.pgDump, dumpArgs(options), findStdbuf());
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(command.program, command.args, {
    env: conn.childEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  const stderr = new OutputTail(8192);
  child.stderr.on('data', (c: Buffer) => stderr.push(c));

  const done = exitOf(child, 'pg_dump', stderr, 'dump', connectionHint);

  return {
    stdout: child.stdout,
    done,
    stderr,
    kill: () => abandonChild(child),
  };
}
