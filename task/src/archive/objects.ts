import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { describeError, ExitCode, interruptedOr, Stage, TaskError } from '../errors';
import { StorageConfig, storageError } from '../storage/s3';

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
