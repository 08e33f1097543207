import { createHash, Hash } from 'node:crypto';
import { Readable, Transform, TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ExitCode, TaskError } from '../errors';
import { formatBytes } from '../log';
import { Manifest } from '../storage/manifest';

/**
 * Passes bytes through while counting them and computing their SHA-256, and holds back
 * the end of the stream until `gate` resolves.
 *
 * This is what makes "complete or nothing" hold: pg_dump's stdout simply ends when pg_dump
 * dies, so an uploader that only watches the stream would complete a truncated archive.
 * Here the stream ends only once `gate` (pg_dump's exit status) has resolved; when it
 * rejects, the stream errors instead of ending, and the upload is aborted.
 */
export class DigestGate extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytesSeen = 0;
  private digestHex: string | undefined;

  constructor(private readonly gate: () => Promise<void>) {
    // Chunks leave one by one as they came: a byte-mode reader asking for everything buffered
    // (an async iterator's read(), as lib-storage's) would get them joined into a new buffer,
    // copying every byte once more. The readable side then buffers up to 16 chunks (16 pipe
    // reads, about 1 MiB) instead of 16 KiB (64 KiB from Node 22) before it pushes back.
    super({ readableObjectMode: true });
  }

  /** Bytes passed through so far. */
  public get bytes(): number {
    return this.bytesSeen;
  }

  /** Hex SHA-256 of every byte passed through; available once the stream has ended cleanly. */
  public get sha256(): string {
    if (this.digestHex === undefined) throw new Error('DigestGate: the digest is known only after the stream ended cleanly');
    return this.digestHex;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytesSeen += chunk.length;
    // An empty chunk would be an object of its own on the object-mode side.
    callback(null, chunk.length > 0 ? chunk : undefined);
  }

  override _flush(callback: TransformCallback): void {
    this.gate().then(
      () => {
        this.digestHex = this.hash.digest('hex');
        callback();
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  }
}

/** What was read of a stored archive. */
export interface ReadResult {
  readonly bytes: number;
  readonly sha256: string;
}

/** Streams `body` into `sink` while counting and hashing it; `signal` destroys both. */
export async function copyHashed(body: Readable, sink: Writable, signal?: AbortSignal): Promise<ReadResult> {
  const gate = new DigestGate(() => Promise.resolve());
  await pipeline(body, gate, sink, { signal });
  return { bytes: gate.bytes, sha256: gate.sha256 };
}

/** Problems between what was read and what the manifest promises (empty when they match). */
export function compareWithManifest(read: ReadResult, manifest: Manifest): string[] {
  const problems: string[] = [];
  if (read.bytes !== manifest.bytes)
    problems.push(`size: read ${read.bytes} bytes (${formatBytes(read.bytes)}), the manifest says ${manifest.bytes}`);
  if (read.sha256 !== manifest.sha256) problems.push(`SHA-256: read ${read.sha256}, the manifest says ${manifest.sha256}`);
  return problems;
}

/** Throws an integrity error listing every problem found with a backup, if any. */
export function throwIfCorrupt(key: string, problems: readonly (string | undefined)[]): void {
  const found = problems.filter((p): p is string => Boolean(p));
  if (found.length === 0) return;
  throw new TaskError(`Backup ${key} failed verification:\n  - ${found.join('\n  - ')}`, { exitCode: ExitCode.INTEGRITY, stage: 'verify' });
}
