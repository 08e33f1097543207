import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createDeflate } from 'node:zlib';
import { dataArchiveHead, DataArchiveSpec, DataChunks } from '../archive/writer';
import { abandonChild, exitOf, OutputTail } from '../child';
import { ExitCode, TaskError } from '../errors';
import { DbConnection } from '../postgres/connection';
import { BlockRange, CopiedTable, startCopy } from '../postgres/copy';
import { DumpProcess } from '../postgres/dump';
import { PgTools } from '../postgres/tools';

/**
 * How a piece's COPY text is compressed: zstd through the zstd program (psql's output goes
 * straight into it, so only compressed bytes pass through this process), gzip (zlib, on Node's
 * thread pool) or none, at `level`.
 */
export interface PieceCompression {
  readonly method: 'zstd' | 'gzip' | 'none';
  readonly level?: number;
}

/** The zstd program on PATH, or undefined. */
export function findZstd(pathVariable = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVariable.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'zstd');
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
 * A parallel backup's compression for the pieces it writes itself, from pg_dump's (`compress`,
 * as BACKUP_COMPRESS or the default gives it) and what this machine has: zstd when pg_dump
 * uses it and the zstd program is here, else gzip at the same level (or 1), none for none.
 * Archive format 1.14 (pg_restore 15 and older) holds gzip or none only.
 */
export function pieceCompression(
  compress: string | undefined,
  format: DataArchiveSpec['format'],
  zstd: string | undefined,
): PieceCompression {
  const m = /^(gzip|zstd|lz4|none)?(?::(?:level=)?(\d+))?$/.exec(compress ?? 'gzip:6') ?? [];
  const method = /^\d$/.test(compress ?? '') ? 'gzip' : (m[1] ?? 'gzip');
  const level = /^\d$/.test(compress ?? '') ? Number(compress) : m[2] === undefined ? undefined : Number(m[2]);
  if (method === 'none' || level === 0) return { method: 'none' };
  if (method === 'zstd' && zstd && format === '1.15') return { method: 'zstd', level: level ?? 1 };
  return { method: 'gzip', level: method === 'gzip' ? (level ?? 6) : 1 };
}

/**
 * Starts one piece of a parallel backup that this CLI writes itself: the rows of one table, or
 * of one block range of it, `COPY … TO STDOUT` under the backup's snapshot, compressed, framed as
 * a custom-format archive that stock pg_restore restores (archive/writer.ts). It looks like a
 * running pg_dump to the upload: `stdout` is the archive, `done` settles when psql and the
 * compressor both exited cleanly, `kill` stops both.
 */
export function startTablePiece(
  tools: PgTools,
  conn: DbConnection,
  piece: {
    readonly snapshot: string;
    readonly encoding: string;
    readonly table: CopiedTable;
    readonly range?: BlockRange;
    readonly archive: Omit<DataArchiveSpec, 'compression' | 'table' | 'oid' | 'encoding'>;
    readonly compression: PieceCompression;
    readonly zstd?: string;
  },
): DumpProcess {
  const copy = startCopy(tools, conn, { snapshot: piece.snapshot, encoding: piece.encoding, table: piece.table, range: piece.range });
  const stderr = new OutputTail(8192);
  const compressed = compress(copy.stdout, piece.compression, piece.zstd, stderr);
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  out.write(
    dataArchiveHead({
      ...piece.archive,
      compression: piece.compression.method,
      encoding: piece.encoding,
      table: piece.table,
      oid: piece.table.oid,
    }),
  );
  const chunks = compressed.stream.pipe(new DataChunks());
  chunks.pipe(out);
  const framed = new Promise<void>((resolve, reject) => {
    chunks.on('end', resolve);
    chunks.on('error', reject);
    compressed.stream.on('error', reject);
  });
  framed.catch(() => undefined);
  const done = Promise.all([copy.done, compressed.done, framed]).then(() => undefined);
  done.catch(() => undefined);
  return {
    stdout: out,
    done,
    stderr: copy.stderr,
    kill: () => {
      copy.kill();
      compressed.kill();
      // psql and the compressor may have finished cleanly while the framing's last bytes wait
      // for room downstream, which a stopped upload never makes: abandon the framing, or `done`
      // never settles.
      chunks.destroy(new TaskError('The piece was stopped before its framing ended.', { exitCode: ExitCode.DATABASE, stage: 'dump' }));
    },
  };
}

/** The compressed form of `input`, with the compressor's own completion. */
function compress(
  input: Readable,
  how: PieceCompression,
  zstd: string | undefined,
  stderr: OutputTail,
): { stream: Readable; done: Promise<void>; kill: () => void } {
  if (how.method === 'none') return { stream: input, done: Promise.resolve(), kill: () => input.destroy() };
  if (how.method === 'gzip') {
    // zlib's format (deflate with its header), as pg_dump's gzip in custom archives.
    const deflate = createDeflate({ level: how.level });
    input.pipe(deflate);
    const done = new Promise<void>((resolve, reject) => {
      deflate.on('end', resolve);
      deflate.on('error', reject);
    });
    done.catch(() => undefined);
    return { stream: deflate, done, kill: () => deflate.destroy() };
  }
  // psql's stdout is handed to zstd as its stdin: the raw COPY text never passes through this process.
  const child = spawn(zstd!, [`-${how.level ?? 1}`, '-q', '-c'], { stdio: [input, 'pipe', 'pipe'] });
  // zstd holds the pipe now; this process's end of it is closed, or psql's 'close' (its exit) never comes.
  input.destroy();
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  return {
    stream: child.stdout,
    done: exitOf(child, 'zstd', stderr, 'dump'),
    kill: () => abandonChild(child),
  };
}
