import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { runCaptured } from '../child';
import { ExitCode, TaskError } from '../errors';
import { PgTools } from '../postgres/tools';
import { StorageConfig, storageError } from '../storage/s3';
import { ArchiveHeader, parseArchiveHeader } from './format';
import { Manifest } from '../storage/manifest';

/**
 * Refuses, before any download and before the target is touched, an archive this pg_restore
 * cannot read. The first bytes of the object are fetched (a ranged GET) and given to
 * `pg_restore --list`, which judges its own abilities: it stops at a format version it does not
 * know, and warns about a compression method it was built without. Its words, the header and
 * both versions make the message.
 */
export async function checkArchiveReadable(
  client: S3Client,
  storage: StorageConfig,
  key: string,
  tools: PgTools,
  env: Readonly<Record<string, string>>,
  pgRestoreVersion: string,
  pgDumpVersion: string | undefined,
  signal?: AbortSignal,
): Promise<ArchiveHeader | undefined> {
  const head = await client
    .send(new GetObjectCommand({ Bucket: storage.bucket, Key: key, Range: 'bytes=0-4095' }), { abortSignal: signal })
    .then(async (r) => Buffer.from(await r.Body!.transformToByteArray()))
    .catch((err) => {
      throw storageError(err, 'download', `Reading the header of s3://${storage.bucket}/${key}`, storage);
    });
  const header = parseArchiveHeader(head);
  // The header alone makes pg_restore fail at the end of its input: only what it says about the header counts.
  const probe = await runCaptured(tools.pgRestore, ['--list'], { env, input: head });
  const refused =
    /unsupported version \([^)]*\) in file header/.exec(probe.stderr)?.[0] ??
    /does not support compression[^\n]*/.exec(probe.stderr)?.[0] ??
    /not supported by this build[^\n]*/.exec(probe.stderr)?.[0];
  if (!refused) return header;
  const what = header
    ? `archive format ${header.version}, ${header.compression === 'none' ? 'uncompressed' : `compressed with ${header.compression}`}`
    : 'its header';
  const why = /version/.test(refused)
    ? `it does not know archive format ${header?.version ?? '(unknown)'}, which only a newer pg_restore reads`
    : `it was built without ${header?.compression ?? 'that'} compression`;
  throw new TaskError(
    `${key} was written by ${pgDumpVersion ?? 'a pg_dump'} (${what}), and this pg_restore (${pgRestoreVersion}) cannot read it: ${why} (pg_restore: ${refused}). ` +
      'Use a pg_restore at least as new as that pg_dump and built with its compression: install postgresql-client of that major, or point --pg-bin-dir / PG_BIN_DIR at one (the container image: postgresMajorVersion). Nothing was downloaded or changed.',
    { exitCode: ExitCode.DATABASE, stage: 'version-check' },
  );
}

/**
 * What is wrong with an archive's identity: a header that is not a custom-format archive's, or
 * one that names another database than the manifest (an archive filed under another database's
 * folder, or a dump of A presented as B). Empty when it is what the manifest says.
 */
export function archiveIdentityProblems(header: ArchiveHeader | undefined, manifest: Pick<Manifest, 'database'>): string[] {
  if (!header) return ["the object's first bytes are not a pg_dump custom-format archive header"];
  if (header.database === undefined) return [];
  const named = Buffer.from(header.database, 'latin1').toString('utf8');
  return named === manifest.database
    ? []
    : [`the archive was dumped from the database ${JSON.stringify(named)}, but the manifest says ${JSON.stringify(manifest.database)}`];
}
