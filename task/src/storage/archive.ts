import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeExit, isFailedExit, OutputTail, spawnErrorMessage } from '../child';
import { describeError, ExitCode, InterruptedError, Stage, TaskError } from '../errors';
import { DigestGate } from './integrity';
import { formatBytes } from '../log';
import { Manifest } from './manifest';
import { PgTools } from '../postgres/tools';
import { StorageConfig, storageError } from './s3';
import { ArchiveFormatError, ArchiveToc, readArchiveToc } from './archive-format';
import { localDiskFailure, RESTORE_DIR_SETTING } from './scratch';

/** What was read of a stored archive. */
export interface ReadResult {
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * The error to report for `err` when `signal` may have caused it: a transfer or a child
 * stopped by SIGTERM fails with an abort or a broken pipe, which must read as an interruption
 * (exit 130), not as a storage or integrity failure.
 */
export function interruptedOr<T>(err: T, signal: AbortSignal | undefined, stage: Stage): T | InterruptedError {
  return signal?.aborted ? new InterruptedError(String(signal.reason), stage) : err;
}

/**
 * The error for a read of `key` that broke mid-transfer: a storage failure (exit 4), or, when
 * `signal` caused it, the interruption, reported as `stage`.
 */
export function transferFailure(key: string, err: unknown, signal: AbortSignal | undefined, stage: Stage): TaskError {
  return interruptedOr(
    new TaskError(`Reading ${key} failed: ${describeError(err)}`, { exitCode: ExitCode.STORAGE, stage: 'download', cause: err }),
    signal,
    stage,
  );
}

/** The error for a request reading `key` that S3 refused or could not answer (or the interruption, when `signal` caused it). */
function requestFailure(storage: StorageConfig, key: string, signal: AbortSignal | undefined, err: unknown): TaskError {
  return interruptedOr(storageError(err, 'download', `Reading s3://${storage.bucket}/${key}`, storage), signal, 'download');
}

/** Opens the stored object as a stream; `signal` cancels the request and the body. */
export async function openObject(client: S3Client, storage: StorageConfig, key: string, signal?: AbortSignal): Promise<Readable> {
  const r = await client.send(new GetObjectCommand({ Bucket: storage.bucket, Key: key }), { abortSignal: signal }).catch((err) => {
    throw requestFailure(storage, key, signal, err);
  });
  return r.Body as Readable;
}

/** How a full read fetches an object: ranged GETs of `partBytes`, `concurrency` at once. */
export interface PartedRead {
  readonly partBytes: number;
  readonly concurrency: number;
}

/** 8 MiB parts, 4 at once: at most 32 MiB held, and four S3 streams instead of one. */
export const PARTED_READ: PartedRead = { partBytes: 8 * 1024 * 1024, concurrency: 4 };

/**
 * Opens the whole stored object as one stream of its bytes in order, fetched as ranged GETs,
 * several at once: a large archive is no longer limited by the bandwidth of one S3 stream.
 * Parts are held until their turn (at most `concurrency` of them). The object's real size comes
 * from a HEAD first, so an object shorter or longer than its manifest says is read exactly as
 * it is, and the size and SHA-256 checks downstream see it. `signal` cancels every request; so
 * does destroying the stream.
 */
export async function openObjectInParts(
  client: S3Client,
  storage: StorageConfig,
  key: string,
  signal?: AbortSignal,
  read: PartedRead = PARTED_READ,
): Promise<Readable> {
  const failed = (err: unknown) => requestFailure(storage, key, signal, err);
  const head = await client.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: key }), { abortSignal: signal }).catch((err) => {
    throw failed(err);
  });
  const total = head.ContentLength ?? 0;
  const starts: number[] = [];
  for (let at = 0; at < total; at += read.partBytes) starts.push(at);
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  async function* bytes(): AsyncGenerator<Buffer> {
    signal?.addEventListener('abort', onAbort, { once: true });
    const inFlight: Array<Promise<Buffer>> = [];
    let next = 0;
    let finished = false;
    const launch = () => {
      while (inFlight.length < read.concurrency && next < starts.length) {
        const start = starts[next++];
        const end = Math.min(start + read.partBytes, total) - 1;
        const part = client
          .send(new GetObjectCommand({ Bucket: storage.bucket, Key: key, Range: `bytes=${start}-${end}` }), { abortSignal: stop.signal })
          .then(async (r) => {
            const bytes = await r.Body!.transformToByteArray();
            return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); // a view, not a second copy
          });
        part.catch(() => undefined); // observed when its turn comes
        inFlight.push(part);
      }
    };
    try {
      launch();
      while (inFlight.length > 0) {
        const part = await inFlight.shift()!;
        launch();
        yield part;
      }
      finished = true;
    } catch (err) {
      throw failed(err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!finished) stop.abort(); // a consumer that stopped early, or a failed part: cancel what is still in flight
    }
  }
  return Readable.from(bytes(), { objectMode: false, highWaterMark: read.partBytes });
}

/** Streams `body` into `sink` while counting and hashing it; `signal` destroys both. */
export async function copyHashed(body: Readable, sink: Writable, signal?: AbortSignal): Promise<ReadResult> {
  const gate = new DigestGate(() => Promise.resolve());
  await pipeline(body, gate, sink, { signal });
  return { bytes: gate.bytes, sha256: gate.sha256 };
}

/**
 * A sink into a child's stdin that goes on accepting (and dropping) bytes once the child has
 * stopped reading. pg_restore stops at the first damaged block; the download must still run
 * to the end, so that size and SHA-256 are compared and a damaged archive is reported as an
 * integrity failure (exit 5) with every mismatch, not as a broken pipe (a storage failure).
 */
export function keepReadingSink(stdin: Writable): Writable {
  let gone = false;
  stdin.on('error', () => (gone = true));
  stdin.on('close', () => (gone = true));
  const whenWritable = (cb: () => void) => {
    const done = () => {
      stdin.off('drain', done).off('error', done).off('close', done);
      cb();
    };
    stdin.on('drain', done).on('error', done).on('close', done);
  };
  return new Writable({
    write(chunk: Buffer, _encoding, cb) {
      if (gone || stdin.destroyed || stdin.write(chunk)) cb();
      else whenWritable(() => cb());
    },
    final(cb) {
      if (gone || stdin.destroyed) cb();
      else stdin.end(() => cb());
    },
  });
}

/** Downloads the object to `file`, hashing on the way. */
export async function downloadTo(
  client: S3Client,
  storage: StorageConfig,
  key: string,
  file: string,
  signal?: AbortSignal,
): Promise<ReadResult> {
  const body = await openObjectInParts(client, storage, key, signal);
  return copyHashed(body, createWriteStream(file, { mode: 0o600 }), signal).catch((err) => {
    const local = localDiskFailure(err, `Writing the download of ${key} to ${file}`, RESTORE_DIR_SETTING, 'download');
    throw interruptedOr(local ?? storageError(err, 'download', `Downloading s3://${storage.bucket}/${key}`, storage), signal, 'download');
  });
}

/** Problems between what was read and what the manifest promises (empty when they match). */
export function compareWithManifest(read: ReadResult, manifest: Manifest): string[] {
  const problems: string[] = [];
  if (read.bytes !== manifest.bytes)
    problems.push(`size: read ${read.bytes} bytes (${formatBytes(read.bytes)}), the manifest says ${manifest.bytes}`);
  if (read.sha256 !== manifest.sha256) problems.push(`SHA-256: read ${read.sha256}, the manifest says ${manifest.sha256}`);
  return problems;
}

/**
 * Starts `pg_restore -f /dev/null` reading an archive from `input` (a file path) or stdin:
 * a full read of every data block. (`pg_restore --list` would pass a truncated archive.)
 * `signal` stops it (SIGTERM); `done` then rejects with an {@link InterruptedError}.
 */
export function startFullRead(
  tools: PgTools,
  env: Readonly<Record<string, string>>,
  input?: string,
  signal?: AbortSignal,
): { stdin: Writable; done: Promise<string | undefined> } {
  const child = spawn(tools.pgRestore, ['-f', '/dev/null', ...(input ? [input] : [])], {
    env,
    stdio: ['pipe', 'ignore', 'pipe'],
    signal,
  });
  const tail = new OutputTail(4096);
  child.stderr.on('data', (c: Buffer) => tail.push(c));
  if (input) child.stdin.end();
  const done = new Promise<string | undefined>((resolve, reject) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => (spawnError = err));
    child.on('close', (code, signalName) => {
      if (signal?.aborted) reject(new InterruptedError(String(signal.reason), 'verify'));
      else if (spawnError) resolve(spawnErrorMessage('pg_restore', spawnError));
      else if (isFailedExit({ code, signal: signalName }))
        resolve(`pg_restore could not read the whole archive (it ${describeExit({ code, signal: signalName })}): ${tail.text(5)}`);
      else resolve(undefined);
    });
  });
  // Callers await it after the transfer; if the transfer fails first, an unobserved rejection must not crash the process.
  done.catch(() => undefined);
  return { stdin: child.stdin, done };
}

/** Throws an integrity error listing every problem found with a backup, if any. */
export function throwIfCorrupt(key: string, problems: readonly (string | undefined)[]): void {
  const found = problems.filter((p): p is string => Boolean(p));
  if (found.length === 0) return;
  throw new TaskError(`Backup ${key} failed verification:\n  - ${found.join('\n  - ')}`, { exitCode: ExitCode.INTEGRITY, stage: 'verify' });
}

/**
 * Where an archive is read from: a local file, or the stored object, opened anew for each read.
 * A table of contents is at the front of the archive, so a read of it from the stored object
 * stops the transfer as soon as it is read (a few kilobytes of a large archive).
 */
export type ArchiveInput = string | (() => Promise<Readable>);

/**
 * Reads an archive's header and table of contents (see archive-format.ts), keeping the SQL of
 * the entry kinds `keepDefn` names, then stops reading. An archive it cannot read is an
 * integrity failure (exit 5); a transfer that breaks, a storage failure.
 */
export async function readTableOfContents(input: ArchiveInput, keepDefn: (desc: string) => boolean, key: string): Promise<ArchiveToc> {
  const stream = typeof input === 'string' ? createReadStream(input) : await input();
  try {
    return await readArchiveToc(stream, { keepDefn });
  } catch (err) {
    if (err instanceof ArchiveFormatError)
      throw new TaskError(`The table of contents of ${key} cannot be read: ${err.message}.`, {
        exitCode: ExitCode.INTEGRITY,
        stage: 'restore',
      });
    throw err instanceof TaskError ? err : transferFailure(key, err, undefined, 'download');
  } finally {
    stream.destroy();
  }
}

/** Number of TABLE DATA entries in a table of contents (for progress). */
export function countTableData(toc: ArchiveToc): number {
  return toc.entries.filter((e) => e.desc === 'TABLE DATA').length;
}

/**
 * Reads a small stored object (globals) into memory, its bytes exactly; more than `expectedBytes`
 * (what the manifest promises) is not read on: the digest check that follows fails.
 */
export async function readSmallObject(client: S3Client, storage: StorageConfig, key: string, expectedBytes: number): Promise<Buffer> {
  const body = await openObject(client, storage, key);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > expectedBytes) break;
    }
  } catch (err) {
    throw transferFailure(key, err, undefined, 'download');
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks);
}
