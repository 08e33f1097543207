import { S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { copyHashed, ReadResult, throwIfCorrupt } from '../archive/digest';
import { openObject, transferFailure } from '../archive/objects';
import { pieceProblems } from '../archive/pieces';
import { readTableOfContents } from '../archive/toc';
import { DbConnection, withDatabase } from '../postgres/connection';
import { InterruptedError, throwIfInterrupted } from '../errors';
import { formatBytes } from '../log';
import { PgRestoreOptions, runPgRestore, startPgRestoreFromStdin } from '../postgres/pg-restore';
import { createDatabase, renameDatabase } from '../postgres/target-db';
import { PieceEntry } from '../storage/manifest';
import { ApplyContext, applyProperties, applyStoredGlobals, progress } from './apply';
import { Applied } from './summary';
import { Done } from './undo';

/**
 * Phase 4 for a parallel backup (manifest v2): it cannot run in one transaction, so it restores
 * into a new database under a temporary name, and renames it into place only once every piece
 * matched its manifest entry and everything applied. In order: the globals; the schema's
 * pre-data (from the small downloaded schema piece); the data pieces, `--jobs` at a time, each
 * streamed from storage straight into pg_restore (no data piece touches the disk); the post-data
 * (indexes, constraints, triggers) with `pg_restore --jobs`; the database's own properties; the
 * rename. A failure or signal drops the temporary database (undo.ts).
 */
export async function applyParallel(ctx: ApplyContext, done: Done[]): Promise<Applied> {
  const { input, pre, backup, fetched, plan, log, signal } = ctx;
  if (plan.globals) {
    await applyStoredGlobals(ctx, plan.globals);
    done.push({ kind: 'globals' });
  }
  const temp = withDatabase(input.target, `pg_s3_backup_restore_${randomBytes(6).toString('hex')}`);
  await createDatabase(input.tools, temp, pre.state);
  done.push({ kind: 'created', database: temp.database });
  const parallel = backup.manifest.parallel!;
  log.info(
    'restore.start',
    `Restoring ${backup.dumpKey} (a parallel backup: ${parallel.pieces.length + 1} pieces, ${formatBytes(parallel.totalBytes)}) with ${input.jobs} jobs into the new database '${temp.database}', renamed to '${input.target.database}' once complete`,
    { key: backup.dumpKey, target: input.target.display, temporary: temp.database, pieces: parallel.pieces.length + 1 },
  );
  const options: PgRestoreOptions = { jobs: 1, clean: false, noOwner: input.noOwner, noAcl: input.noAcl };
  const schema = fetched.archive as string;
  await runPgRestore(input.tools, temp, schema, { ...options, section: 'pre-data' }, signal, () => undefined);
  const read = await restoreDataPieces(ctx, temp, options);
  await runPgRestore(input.tools, temp, schema, { ...options, jobs: input.jobs, section: 'post-data' }, signal, () => undefined);
  const databaseProperties = plan.props ? await applyProperties({ ...ctx, input: { ...input, target: temp } }, plan.props) : undefined;
  throwIfInterrupted(signal, 'restore');
  await renameDatabase(input.tools, input.target, temp.database, pre.state);
  done.push({ kind: 'renamed' });
  return {
    read: { bytes: read.bytes + fetched.downloaded!.bytes, sha256: fetched.downloaded!.sha256 },
    createdDatabase: true,
    databaseProperties,
  };
}

/**
 * Streams every data piece into `temp`, `--jobs` at a time, largest first. The first failure
 * stops the others and is what is thrown; damage (bytes that differ from the manifest) wins over
 * what pg_restore made of it.
 */
async function restoreDataPieces(ctx: ApplyContext, temp: DbConnection, options: PgRestoreOptions): Promise<{ bytes: number }> {
  const { input, backup, signal } = ctx;
  const queue = [...backup.manifest.parallel!.pieces].sort((a, b) => b.bytes - a.bytes);
  const stop = new AbortController();
  const onSignal = () => stop.abort(signal.reason);
  signal.addEventListener('abort', onSignal, { once: true });
  const onTable = progress(input.progressSeconds, queue.length, ctx.log);
  let bytes = 0;
  let first: Error | undefined;
  const worker = async () => {
    for (let piece = queue.shift(); piece && first === undefined; piece = queue.shift()) {
      const read = await restorePiece(ctx, piece, temp, options, stop.signal, onTable).catch((err: unknown) => {
        first ??= err instanceof Error ? err : new Error(String(err));
        stop.abort('the failure of another piece');
        return undefined;
      });
      bytes += read?.bytes ?? 0;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, input.jobs) }, worker));
  signal.removeEventListener('abort', onSignal);
  if (signal.aborted) throw new InterruptedError(String(signal.reason), 'restore');
  if (first !== undefined) throw first;
  return { bytes };
}

/**
 * One data piece: its table of contents checked against the manifest (archive/pieces.ts), then
 * the object streamed into `pg_restore --data-only`, counted and hashed on the way.
 */
async function restorePiece(
  ctx: ApplyContext,
  piece: PieceEntry,
  temp: DbConnection,
  options: PgRestoreOptions,
  signal: AbortSignal,
  onTable: (table: string) => void,
): Promise<ReadResult> {
  const { input, pre, backup } = ctx;
  const open = () => openObject(pre.client, input.storage, piece.key, signal);
  const toc = await readTableOfContents(open, () => false, piece.key).catch(async (err: unknown) => {
    await throwIfPieceDamaged(pre.client, ctx, piece, signal);
    throw err;
  });
  const problems = pieceProblems(toc, piece, backup.manifest);
  if (problems.length > 0) {
    await throwIfPieceDamaged(pre.client, ctx, piece, signal);
    throwIfCorrupt(backup.dumpKey, problems);
  }
  const pass = startPgRestoreFromStdin(input.tools, temp, { ...options, dataOnly: true }, signal, onTable);
  const read = await copyHashed(await open(), pass.stdin as unknown as Writable, signal).catch(async (err: unknown) => {
    // pg_restore stopped reading (a damaged block?): judge the bytes first.
    if (
      await pass.done.then(
        () => false,
        () => true,
      )
    )
      await throwIfPieceDamaged(pre.client, ctx, piece, signal);
    throw transferFailure(piece.key, err, signal, 'restore');
  });
  const failed = await pass.done.then(
    () => undefined,
    (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
  );
  throwIfCorrupt(backup.dumpKey, pieceMismatch(read, piece));
  if (failed !== undefined) throw failed;
  return read;
}

/** What differs between a piece as read and its manifest entry. */
function pieceMismatch(read: ReadResult, piece: PieceEntry): string[] {
  return [
    ...(read.bytes === piece.bytes ? [] : [`${piece.key}: read ${read.bytes} bytes, the manifest says ${piece.bytes}`]),
    ...(read.sha256 === piece.sha256 ? [] : [`${piece.key}: SHA-256 ${read.sha256}, the manifest says ${piece.sha256}`]),
  ];
}

/** Reads a whole piece through a SHA-256, and throws an integrity error (exit 5) if it is not what its manifest entry says. */
export async function throwIfPieceDamaged(
  client: S3Client,
  ctx: Pick<ApplyContext, 'input' | 'backup'>,
  piece: PieceEntry,
  signal: AbortSignal,
): Promise<void> {
  const discard = new Writable({ write: (_chunk, _encoding, cb) => cb() });
  const read = await copyHashed(await openObject(client, ctx.input.storage, piece.key, signal), discard, signal).catch((err: unknown) => {
    throw transferFailure(piece.key, err, signal, 'download');
  });
  throwIfCorrupt(ctx.backup.dumpKey, pieceMismatch(read, piece));
}
