import { S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { copyHashed, ReadResult, throwIfCorrupt } from '../archive/digest';
import { openObject, transferFailure } from '../archive/objects';
import { keepReadingSink } from '../archive/gates';
import { pieceProblems } from '../archive/pieces';
import { readTableOfContents } from '../archive/toc';
import { DbConnection, withDatabase } from '../postgres/connection';
import { ExitCode, InterruptedError, TaskError, throwIfInterrupted } from '../errors';
import { ArchiveToc, TocEntry } from '../archive/format';
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
  const schema = fetched.archive as string;
  // restore --table: every chosen table must be in the backup, before anything is changed.
  const only = input.tables ? onlyTables(ctx, schema) : undefined;
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
    `Restoring ${backup.dumpKey} (a parallel backup: ${parallel.pieces.length + 1} pieces, ${formatBytes(parallel.totalBytes)})${input.tables ? `, only the table${input.tables.length > 1 ? 's' : ''} ${input.tables.map((t) => `${t.schema}.${t.name}`).join(', ')}` : ''} with ${input.jobs} jobs into the new database '${temp.database}', renamed to '${input.target.database}' once complete`,
    { key: backup.dumpKey, target: input.target.display, temporary: temp.database, pieces: parallel.pieces.length + 1 },
  );
  const options: PgRestoreOptions = { jobs: 1, clean: false, noOwner: input.noOwner, noAcl: input.noAcl };
  await runPgRestore(input.tools, temp, schema, { ...options, section: 'pre-data', useList: only?.list }, signal, () => undefined);
  const read = await restoreDataPieces(ctx, temp, options, only);
  // pg_restore -t's rule: a table restored alone comes without its indexes, constraints and triggers.
  if (!only) await runPgRestore(input.tools, temp, schema, { ...options, jobs: input.jobs, section: 'post-data' }, signal, () => undefined);
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
async function restoreDataPieces(
  ctx: ApplyContext,
  temp: DbConnection,
  options: PgRestoreOptions,
  only: OnlyTables | undefined,
): Promise<{ bytes: number }> {
  const { input, backup, signal } = ctx;
  const queue = backup.manifest.parallel!.pieces.filter((p) => !only || only.needs(p)).sort((a, b) => b.bytes - a.bytes);
  const stop = new AbortController();
  const onSignal = () => stop.abort(signal.reason);
  signal.addEventListener('abort', onSignal, { once: true });
  const onTable = progress(input.progressSeconds, queue.length, ctx.log);
  let bytes = 0;
  let first: Error | undefined;
  const worker = async () => {
    for (let piece = queue.shift(); piece && first === undefined; piece = queue.shift()) {
      const read = await restorePiece(ctx, piece, temp, options, stop.signal, onTable, only).catch((err: unknown) => {
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
  only?: OnlyTables,
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
  // Of the rest (small tables together), only the chosen tables' rows.
  const useList = only && piece.kind === 'rest' ? only.listFor(toc, piece.key) : undefined;
  const pass = startPgRestoreFromStdin(input.tools, temp, { ...options, dataOnly: true, useList }, signal, onTable);
  // pg_restore may stop reading before the end: at a damaged block, or (-L) once it has the chosen
  // tables' rows. The piece is still read to its end, so its size and SHA-256 are checked; damage
  // is then an integrity failure, and pg_restore's exit says the rest.
  const read = await copyHashed(await open(), keepReadingSink(pass.stdin as unknown as Writable), signal).catch((err: unknown) => {
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

/** restore --table: which pieces to read, and pg_restore lists (-L) naming only the chosen tables' entries. */
interface OnlyTables {
  /** The schema's list: the chosen tables' TABLE entries. */
  readonly list: string;
  /** Whether a piece holds rows of a chosen table (its own pieces; the rest when a chosen table has none). */
  needs(piece: PieceEntry): boolean;
  /** Writes the list of the chosen tables' TABLE DATA entries of `toc` (the rest piece's). */
  listFor(toc: ArchiveToc, key: string): string;
}

/**
 * The chosen tables, each of which must be a table of this backup (its schema's TABLE
 * entries): one that is not is a configuration error (exit 2), found before any data is read.
 */
function onlyTables(ctx: ApplyContext, schemaFile: string): OnlyTables {
  const tables = ctx.input.tables!;
  const key = (schema: string, name: string) => JSON.stringify([schema, name]);
  const chosen = new Set(tables.map((t) => key(t.schema, t.name)));
  const isChosen = (e: TocEntry) => chosen.has(key(utf8(e.namespace), utf8(e.tag)));
  const defined = ctx.plan.toc.entries.filter((e) => e.desc === 'TABLE' && isChosen(e));
  const found = new Set(defined.map((e) => key(utf8(e.namespace), utf8(e.tag))));
  const missing = tables.filter((t) => !found.has(key(t.schema, t.name)));
  if (missing.length > 0)
    throw new TaskError(
      `${ctx.backup.dumpKey} has no table ${missing.map((t) => `${JSON.stringify(t.schema)}.${JSON.stringify(t.name)}`).join(', ')} (names are exact: schema.table, as the database has them).`,
      { exitCode: ExitCode.CONFIG, stage: 'restore' },
    );
  const own = new Set(ctx.backup.manifest.parallel!.pieces.flatMap((p) => (p.table ? [key(p.table.schema, p.table.name)] : [])));
  const inRest = tables.some((t) => !own.has(key(t.schema, t.name)));
  const dir = dirname(schemaFile);
  const write = (name: string, entries: readonly TocEntry[]) => {
    const file = join(dir, name);
    writeFileSync(file, entries.map((e) => `${e.dumpId};\n`).join(''), { mode: 0o600 });
    return file;
  };
  return {
    list: write('schema.list', defined),
    needs: (p) => (p.table ? chosen.has(key(p.table.schema, p.table.name)) : inRest),
    listFor: (toc, pieceKey) =>
      write(
        `${pieceKey.replace(/[^A-Za-z0-9.-]/g, '_')}.list`,
        toc.entries.filter((e) => e.desc === 'TABLE DATA' && isChosen(e)),
      ),
  };
}

/** A TOC's strings are bytes, one character each: names are compared as UTF-8. */
const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
