import { S3Client } from '@aws-sdk/client-s3';
import { toolEnvironment } from '../postgres/connection';
import { clientVersion, PgTools } from '../postgres/tools';
import { Manifest } from '../storage/manifest';
import { StorageConfig } from '../storage/s3';
import { compareWithManifest, copyHashed, ReadResult, throwIfCorrupt } from './digest';
import { startFullRead } from './full-read';
import { keepReadingSink } from './gates';
import { archiveIdentityProblems, checkArchiveReadable } from './header';
import { openObject, openObjectInParts, transferFailure } from './objects';
import { pieceProblems } from './pieces';
import { readTableOfContents } from './toc';
import { ExitCode, TaskError } from '../errors';

/**
 * Checks a stored archive with no local disk: that this pg_restore can read it (its header,
 * before the download), then its size and SHA-256 against the manifest while pg_restore reads
 * every block (`pg_restore -f /dev/null`: `--list` would pass a truncated one), and that the
 * database its header names is the manifest's. Throws an integrity error (exit 5) listing every
 * problem found.
 */
export async function verifyStoredArchive(
  client: S3Client,
  storage: StorageConfig,
  tools: PgTools,
  backup: { readonly dumpKey: string; readonly manifest: Manifest },
  signal: AbortSignal,
): Promise<ReadResult> {
  // pg_restore reads an archive and connects to nothing: it gets no credentials.
  const env = toolEnvironment(process.env);
  const pgRestore = await clientVersion(tools.pgRestore, 'pg_restore', env);
  const header = await checkArchiveReadable(
    client,
    storage,
    backup.dumpKey,
    tools,
    env,
    pgRestore.text,
    backup.manifest.pgDump?.version,
    signal,
  );
  const read = await readThrough(client, storage, tools, backup.dumpKey, signal);
  throwIfCorrupt(backup.dumpKey, [
    ...compareWithManifest(read, backup.manifest),
    read.problem,
    ...archiveIdentityProblems(header, backup.manifest),
    ...(backup.manifest.parallel ? await verifyPieces(client, storage, tools, backup, signal) : []),
  ]);
  return { bytes: read.bytes + (backup.manifest.parallel?.pieces ?? []).reduce((sum, p) => sum + p.bytes, 0), sha256: read.sha256 };
}

/**
 * Reads a stored object through pg_restore -f /dev/null and a SHA-256. pg_restore may stop
 * reading early (a damaged block): the download goes on, and its exit says why (`problem`).
 */
async function readThrough(
  client: S3Client,
  storage: StorageConfig,
  tools: PgTools,
  key: string,
  signal: AbortSignal,
): Promise<ReadResult & { problem?: string }> {
  const env = toolEnvironment(process.env);
  const body = await openObjectInParts(client, storage, key, signal);
  const reader = startFullRead(tools, env, undefined, signal);
  const read = await copyHashed(body, keepReadingSink(reader.stdin), signal).catch(async (err: unknown) => {
    // pg_restore has been stopped (signal) or sees the end of its input: let it go before reporting.
    await reader.done.catch(() => undefined);
    throw transferFailure(key, err, signal, 'download');
  });
  const problem = await reader.done;
  return { ...read, problem: problem ? `${key}: ${problem}` : undefined };
}

/**
 * Every data piece of a parallel backup, one after the other: its table of contents is what the
 * manifest says the piece is (archive/pieces.ts), and every block of it reads, with the size and
 * SHA-256 its manifest entry gives. Returns every problem found.
 */
async function verifyPieces(
  client: S3Client,
  storage: StorageConfig,
  tools: PgTools,
  backup: { readonly dumpKey: string; readonly manifest: Manifest },
  signal: AbortSignal,
): Promise<string[]> {
  const problems: string[] = [];
  for (const piece of backup.manifest.parallel!.pieces) {
    const toc = await readTableOfContents(
      () => openObject(client, storage, piece.key, signal),
      () => false,
      piece.key,
    ).catch((err: unknown) => {
      if (err instanceof TaskError && err.exitCode === ExitCode.INTEGRITY) return err.message;
      throw err;
    });
    if (typeof toc === 'string') problems.push(toc);
    else problems.push(...pieceProblems(toc, piece, backup.manifest));
    const read = await readThrough(client, storage, tools, piece.key, signal);
    if (read.bytes !== piece.bytes) problems.push(`${piece.key}: read ${read.bytes} bytes, the manifest says ${piece.bytes}`);
    if (read.sha256 !== piece.sha256) problems.push(`${piece.key}: SHA-256 ${read.sha256}, the manifest says ${piece.sha256}`);
    if (read.problem) problems.push(read.problem);
  }
  return problems;
}
