import { createHash, Hash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';

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
    super();
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
    callback(null, chunk);
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
