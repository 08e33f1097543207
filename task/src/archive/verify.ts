import { S3Client } from '@aws-sdk/client-s3';
import { toolEnvironment } from '../postgres/connection';
import { clientVersion, PgTools } from '../postgres/tools';
import { Manifest } from '../storage/manifest';
import { StorageConfig } from '../storage/s3';
import { compareWithManifest, copyHashed, ReadResult, throwIfCorrupt } from './digest';
import { startFullRead } from './full-read';
import { keepReadingSink } from './gates';
import { archiveIdentityProblems, checkArchiveReadable } from './header';
import { openObjectInParts, transferFailure } from './objects';

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
  const body = await openObjectInParts(client, storage, backup.dumpKey, signal);
  const reader = startFullRead(tools, env, undefined, signal);
  // pg_restore may stop reading early (a damaged block): the download goes on, its exit says why.
  const read = await copyHashed(body, keepReadingSink(reader.stdin), signal).catch(async (err: unknown) => {
    // pg_restore has been stopped (signal) or sees the end of its input: let it go before reporting.
    await reader.done.catch(() => undefined);
    throw transferFailure(backup.dumpKey, err, signal, 'download');
  });
  throwIfCorrupt(backup.dumpKey, [
    ...compareWithManifest(read, backup.manifest),
    await reader.done,
    ...archiveIdentityProblems(header, backup.manifest),
  ]);
  return read;
}
