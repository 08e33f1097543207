import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { runCaptured } from '../child';
import { ExitCode, TaskError } from '../errors';
import { PgTools } from '../postgres/tools';
import { StorageConfig, storageError } from './s3';

/**
 * What a custom-format archive (pg_dump -Fc) needs of the pg_restore that reads it, from its
 * header: the archive format version (each pg_restore reads formats up to the one its
 * release writes: 1.14 up to PostgreSQL 15, 1.15 in 16, 1.16 from 17) and the compression
 * method (gzip, or since 16 also lz4 and zstd, each only if pg_restore was built with it).
 * The major version alone says neither: a 16 archive may be readable by 16 but not by a 16
 * built without zstd.
 */
export interface ArchiveHeader {
  /** e.g. `1.16` */
  readonly version: string;
  readonly compression: 'none' | 'gzip' | 'lz4' | 'zstd' | `unknown (${number})`;
}

const ALGORITHMS = ['none', 'gzip', 'lz4', 'zstd'] as const;

/** Parses the header of a custom-format archive; undefined when the bytes are not one. */
export function parseArchiveHeader(bytes: Buffer): ArchiveHeader | undefined {
  if (bytes.length < 12 || bytes.subarray(0, 5).toString('latin1') !== 'PGDMP') return undefined;
  const [major, minor] = [bytes[5], bytes[6]];
  const intSize = bytes[8];
  const version = `${major}.${minor}`;
  if (major > 1 || minor >= 15) {
    // Since 1.15: the compression algorithm, one byte, after the format byte.
    const alg = bytes[11];
    return { version, compression: ALGORITHMS[alg] ?? `unknown (${alg})` };
  }
  // Before 1.15: the zlib level as an int (a sign byte, then intSize bytes, little-endian); 0 is none.
  if (bytes.length < 12 + intSize) return undefined;
  let level = 0;
  for (let i = intSize - 1; i >= 0; i--) level = level * 256 + bytes[12 + i];
  return { version, compression: level === 0 ? 'none' : 'gzip' };
}

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
