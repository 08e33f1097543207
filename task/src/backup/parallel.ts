import { S3Client } from '@aws-sdk/client-s3';
import { availableParallelism } from 'node:os';
import { BackupKeys, pieceKey } from '../contract';
import { describeError, ExitCode, InterruptedError, TaskError } from '../errors';
import { formatBytes, Logger } from '../log';
import { SnapshotSession } from '../postgres/snapshot';
import { PieceEntry } from '../storage/manifest';
import { createS3Client, listObjects, storageError } from '../storage/s3';
import { OwnObject, UploadLedger, UploadOutcome } from '../storage/upload';
import { Source } from './check';
import { BackupPlan } from './plan';
import { describePiece, PiecePlan, planPieces, TableFacts } from './pieces';
import { PieceSources } from './sources';
import { Streamed } from './stream';
import { runPieceThread } from './thread-entry';
import { PIECE_THREAD, PieceThread, PieceThreadData, StreamLayout, ThreadHost } from './threads';
import { PieceCompression } from './table-piece';
import { BackupInput } from './types';

/** What the snapshot session found and planned, before anything streams. */
export interface SnapshotPlan {
  readonly session: SnapshotSession;
  readonly snapshot: string;
  /** The pieces' COPY text's encoding: UTF8 (the server converts), or SQL_ASCII as is. */
  readonly encoding: string;
  readonly pieces: readonly PiecePlan[];
}

/**
 * Opens the session whose snapshot every piece reads under, learns the tables' sizes under it,
 * plans the pieces, and locks the tables that get pieces of their own (ACCESS SHARE, as pg_dump
 * locks what it dumps), so that nothing drops or alters them before they are read.
 */
export async function openSnapshotPlan(input: BackupInput, source: Source, jobs: number): Promise<SnapshotPlan> {
  const { session, snapshot } = await SnapshotSession.open(input.tools, input.conn);
  try {
    const [serverEncoding] = await session.run('SHOW server_encoding;');
    const encoding = serverEncoding === 'SQL_ASCII' ? 'SQL_ASCII' : 'UTF8';
    if (encoding === 'UTF8') await session.run("SET client_encoding = 'UTF8';");
    const tables = (await session.run(tablesQuery(source.server.versionNum))).map((line) => JSON.parse(line) as TableFacts);
    // Names the archive cannot carry exactly (a SQL_ASCII database's non-ASCII names) stay with pg_dump.
    // eslint-disable-next-line no-control-regex -- ASCII is exactly what passes unchanged
    const representable = tables.filter((t) => encoding === 'UTF8' || /^[\u0000-\u007f]*$/.test(t.schema + t.name + t.columns.join('')));
    const pieces = planPieces(representable, {
      jobs,
      splitTables: source.server.versionNum >= 140000,
      minPieceBytes: input.pieceMib === undefined ? undefined : input.pieceMib * 1024 * 1024,
    });
    const locked = [...new Set(pieces.flatMap((p) => (p.kind === 'table' ? [p.table] : [])))];
    if (locked.length > 0)
      await session.run(`LOCK TABLE ${locked.map((t) => `ONLY ${quote(t.schema)}.${quote(t.name)}`).join(', ')} IN ACCESS SHARE MODE;`);
    return { session, snapshot, encoding, pieces };
  } catch (err) {
    await session.close().catch(() => undefined);
    throw err;
  }
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The user tables whose rows pg_dump would dump, with their size (heap and TOAST) and heap
 * blocks, largest first: plain and unlogged tables outside the system schemas that no extension
 * owns, with the columns COPY carries (no dropped or generated ones, as pg_dump). One JSON row a
 * line, so that any name arrives intact.
 */
function tablesQuery(serverVersionNum: number): string {
  const generated = serverVersionNum >= 120000 ? " AND a.attgenerated = ''" : '';
  return `SELECT json_build_object('oid', c.oid, 'schema', n.nspname, 'name', c.relname, 'owner', pg_catalog.pg_get_userbyid(c.relowner),
    'bytes', pg_catalog.pg_table_size(c.oid), 'blocks', pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::bigint,
    'columns', (SELECT coalesce(json_agg(a.attname ORDER BY a.attnum), '[]'::json) FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped${generated}))
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND c.relpersistence IN ('p', 'u') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e')
  ORDER BY pg_catalog.pg_table_size(c.oid) DESC;`;
}

/** One streamed piece: where it went and what was read. */
export interface StreamedPiece {
  readonly piece: PiecePlan;
  readonly key: string;
  readonly streamed: Streamed;
}

/**
 * Streams every piece, `jobs` at a time (largest first), each through the same complete-or-nothing
 * pipeline as a single backup, each stream on a thread and an S3 client of its own
 * ({@link PieceThread}). No piece becomes visible while any stream runs: each one's completion
 * waits at its thread's hold until all have streamed, then all are released together. The first
 * failure stops every stream (its children killed, its upload aborted), cancels the held
 * completions (lib-storage aborts those uploads), sweeps any upload still open, and is what is thrown.
 */
export async function streamPieces(
  s: PieceSources & {
    pieces: readonly PiecePlan[];
    layout: StreamLayout;
    keys: BackupKeys;
    tier: BackupPlan['tier'];
    parts: BackupPlan['parts'];
    log: Logger;
    signal: AbortSignal;
  },
): Promise<StreamedPiece[]> {
  const { input, keys, log, pieces } = s;
  const { jobs, threads: threadCount } = s.layout;
  const ledger = new UploadLedger(createS3Client(input.storage));
  const data: PieceThreadData = {
    kind: PIECE_THREAD,
    sources: {
      input,
      source: s.source,
      snapshot: s.snapshot,
      encoding: s.encoding,
      compression: s.compression,
      zstd: s.zstd,
      createdAt: s.createdAt,
    },
    pieces,
    keys,
    tier: s.tier,
    parts: s.parts,
  };
  log.info(
    'backup.threads',
    threadCount > 0
      ? `The ${jobs} streams run on worker threads of their own (${availableParallelism()} cores)`
      : `The ${jobs} streams share the main thread (${availableParallelism()} cores; worker threads need at least ${Math.ceil(jobs * 1.5)}, or BACKUP_STREAM_THREADS=on)`,
    { threads: threadCount, cores: availableParallelism(), setting: input.streamThreads ?? 'auto' },
  );
  const host: ThreadHost = threadCount > 0 ? { kind: 'worker' } : { kind: 'inline', run: runPieceThread };
  const threads = Array.from({ length: jobs }, () => new PieceThread(data, log, ledger, host));
  const stop = new AbortController();
  stop.signal.addEventListener('abort', () => threads.forEach((t) => t.stop(String(stop.signal.reason))), { once: true });
  const onSignal = () => stop.abort(s.signal.reason);
  s.signal.addEventListener('abort', onSignal, { once: true });
  const queue = pieces.map((piece, index) => ({ piece, index, key: piece.kind === 'schema' ? keys.dump : pieceKey(keys.stem, index) }));
  const done: StreamedPiece[] = [];
  let first: TaskError | undefined;
  const run = async (thread: PieceThread) => {
    for (let next = queue.shift(); next && first === undefined && !stop.signal.aborted; next = queue.shift()) {
      const { piece, index, key } = next;
      const streamed = await thread.stream(index, key).catch((err: unknown) => {
        first ??= err instanceof TaskError ? err : new TaskError(describeError(err), { exitCode: ExitCode.INTERNAL, stage: 'dump' });
        stop.abort('the failure of another piece');
        return undefined;
      });
      if (streamed) done.push({ piece, key, streamed });
    }
  };
  try {
    await Promise.allSettled(threads.map(run));
    s.signal.removeEventListener('abort', onSignal);
    if (first !== undefined || s.signal.aborted) {
      const err = first ?? new InterruptedError(String(s.signal.reason), 'dump');
      threads.forEach((t) => t.cancel(err));
      await Promise.allSettled(done.map((d) => d.streamed.completion));
      const left = await ledger.abortOpen();
      if (left.length > 0)
        log.warn(
          'backup.abort-failed',
          `Aborting the multipart uploads of ${left.join(', ')} failed. No piece was completed; the bucket's lifecycle rule removes the orphaned parts.`,
          { keys: left },
        );
      throw err;
    }
    threads.forEach((t) => t.release());
    await Promise.allSettled(done.map((d) => d.streamed.completion));
    return done;
  } finally {
    s.signal.removeEventListener('abort', onSignal);
    await Promise.all(threads.map((t) => t.close()));
  }
}

/** Waits for every released completion; a failure is the store's (exit 4) and leaves no manifest. */
export async function completePieces(
  pieces: readonly StreamedPiece[],
  storage: BackupInput['storage'],
): Promise<Map<string, UploadOutcome>> {
  const settled = await Promise.allSettled(pieces.map((p) => p.streamed.completion));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw storageError(failed.reason, 'upload', 'Completing the pieces', storage);
  return new Map(pieces.map((p, i) => [p.key, (settled[i] as PromiseFulfilledResult<UploadOutcome>).value]));
}

/** Every stored piece must hold every byte its stream read: listed once under the stem. */
export async function checkStoredPieces(
  client: S3Client,
  storage: BackupInput['storage'],
  stem: string,
  pieces: readonly StreamedPiece[],
): Promise<void> {
  const listed = await listObjects(client, storage.bucket, stem).catch((err) => {
    throw storageError(err, 'size-check', 'Checking the stored pieces', storage);
  });
  const wrong = pieces.filter((p) => listed.find((o) => o.key === p.key)?.size !== p.streamed.bytes);
  if (wrong.length > 0)
    throw new TaskError(
      `The stored pieces ${wrong.map((p) => `${p.key} (${listed.find((o) => o.key === p.key)?.size ?? 'missing'}; ${p.streamed.bytes} bytes were streamed)`).join(', ')} do not hold what was streamed. No manifest was written, so this backup counts as incomplete; check the store.`,
      { exitCode: ExitCode.INTEGRITY, stage: 'size-check' },
    );
}

/** The manifest's entries for the pieces beside the schema, and the objects this run owns. */
export function pieceEntries(
  pieces: readonly StreamedPiece[],
  outcomes: Map<string, UploadOutcome>,
): { entries: PieceEntry[]; own: OwnObject[] } {
  const entries: PieceEntry[] = pieces
    .filter((p) => p.piece.kind !== 'schema')
    .sort((a, b) => a.key.localeCompare(b.key))
    .map(({ piece, key, streamed }) => ({
      key,
      kind: piece.kind === 'rest' ? 'rest' : 'table',
      bytes: streamed.bytes,
      sha256: streamed.sha256,
      ...(piece.kind === 'table' ? { table: { schema: piece.table.schema, name: piece.table.name }, range: piece.range } : {}),
    }));
  const own = pieces.map((p) => ({ key: p.key, bytes: p.streamed.bytes, etag: outcomes.get(p.key)?.etag }));
  return { entries, own };
}

/** Logs the plan: how many pieces, which tables are split, and the compression of the pieces this CLI writes. */
export function logPlan(plan: SnapshotPlan, compression: PieceCompression, zstd: string | undefined, log: Logger): void {
  const tables = plan.pieces.filter((p) => p.kind === 'table');
  log.info(
    'backup.pieces',
    `Parallel backup under snapshot ${plan.snapshot}: ${plan.pieces.length} pieces (schema, rest, ${tables.length} of tables: ${formatBytes(tables.reduce((s, p) => s + p.bytes, 0))})`,
    { snapshot: plan.snapshot, pieces: plan.pieces.map(describePiece), compression: compression.method },
  );
  if (tables.length > 0 && compression.method === 'gzip' && !zstd)
    log.warn(
      'backup.pieces',
      'The zstd program is not installed: the pieces this CLI writes are compressed with gzip, which is slower. Install zstd.',
    );
}
