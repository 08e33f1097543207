import { AbortMultipartUploadCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { Tier } from '../contract';
import { StorageConfig } from './s3';

export interface StreamUploadInput {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** Must end only when the data is known to be complete, and error otherwise (see DigestGate). */
  readonly body: Readable;
  readonly partSizeBytes: number;
  readonly queueSize: number;
  readonly checksum: StorageConfig['checksum'];
  readonly tier: Tier;
  readonly contentType: string;
  /** Called with the bytes the store has acknowledged so far. */
  readonly onProgress?: (uploadedBytes: number) => void;
}

export interface UploadOutcome {
  readonly etag?: string;
  readonly versionId?: string;
  /** The additional checksum S3 reports for the object (composite for multipart objects). */
  readonly checksum?: { readonly algorithm: string; readonly value: string };
}

/** Parameters shared by every object a backup writes. */
function objectParams(checksum: StorageConfig['checksum'], tier: Tier, contentType: string) {
  return {
    ContentType: contentType,
    // The tag is set atomically at creation: the lifecycle's retention tiers depend on it.
    Tagging: `tier=${tier}`,
    // Never overwrite: S3 answers 412 if the key exists by the time the object completes.
    IfNoneMatch: '*',
    ...(checksum === 'none' ? {} : { ChecksumAlgorithm: checksum }),
  };
}

function checksumOf(result: object, algorithm: StorageConfig['checksum']): UploadOutcome['checksum'] {
  if (algorithm === 'none') return undefined;
  const value = (result as Record<string, unknown>)[`Checksum${algorithm}`];
  return typeof value === 'string' ? { algorithm, value } : undefined;
}

/**
 * Streams `body` into one S3 object with lib-storage: multipart with the planned part size
 * and concurrency (a single PutObject when the whole body fits in one part). The object is
 * created only if `body` ends cleanly; if it errors, lib-storage aborts the multipart upload
 * (`leavePartsOnError: false`) and no object appears at the key.
 */
export function startStreamUpload(input: StreamUploadInput): { upload: Upload; done: Promise<UploadOutcome> } {
  const upload = new Upload({
    client: input.client,
    partSize: input.partSizeBytes,
    queueSize: input.queueSize,
    leavePartsOnError: false,
    params: { Bucket: input.bucket, Key: input.key, Body: input.body, ...objectParams(input.checksum, input.tier, input.contentType) },
  });
  if (input.onProgress) upload.on('httpUploadProgress', (p) => input.onProgress!(p.loaded ?? 0));
  const done = upload.done().then((r) => ({
    etag: r.ETag,
    versionId: r.VersionId,
    checksum: checksumOf(r, input.checksum),
  }));
  return { upload, done };
}

/** Writes a small object (manifest, globals) that must not overwrite anything. */
export async function putNewObject(
  client: S3Client,
  input: { bucket: string; key: string; body: string | Buffer; contentType: string; tier: Tier; checksum: StorageConfig['checksum'] },
): Promise<UploadOutcome> {
  const r = await client.send(
    new PutObjectCommand({
      Bucket: input.bucket,
      Key: input.key,
      Body: input.body,
      ...objectParams(input.checksum, input.tier, input.contentType),
    }),
  );
  return { etag: r.ETag, versionId: r.VersionId, checksum: checksumOf(r, input.checksum) };
}

/** An object this run wrote, as the store should now list it. */
export interface OwnObject {
  readonly key: string;
  readonly bytes: number;
  /** The ETag the store answered this run's write with. */
  readonly etag?: string;
}

interface ListedWithEtag {
  readonly size: number;
  readonly etag?: string;
  readonly lastModified?: Date;
}

/** ETags are quoted on the wire; some stores drop the quotes in one place and not in another. */
const bareEtag = (etag: string | undefined) => etag?.replace(/^"|"$/g, '');

async function listWithEtags(client: S3Client, bucket: string, prefix: string): Promise<Map<string, ListedWithEtag>> {
  const out = new Map<string, ListedWithEtag>();
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? [])
      if (o.Key !== undefined) out.set(o.Key, { size: o.Size ?? 0, etag: bareEtag(o.ETag), lastModified: o.LastModified });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * What the store lists under `prefix` that contradicts this run's writes: an object of `own`
 * that is missing or has another ETag or size (another writer replaced it), or anything at a
 * key of `absent`. Empty when the store holds exactly what this run wrote.
 *
 * It lists (ListObjectsV2, which returns each object's ETag) and reads nothing: the backup
 * role has no s3:GetObject, by design, so HEAD and GET are not open to it. A listing carries
 * no version ids, so on a versioned bucket the ETag is what identifies this run's write.
 */
export async function contradictions(
  client: S3Client,
  bucket: string,
  prefix: string,
  own: readonly OwnObject[],
  absent: readonly string[] = [],
): Promise<string[]> {
  const listed = await listWithEtags(client, bucket, prefix);
  const problems: string[] = [];
  for (const o of own) {
    const found = listed.get(o.key);
    const etag = bareEtag(o.etag);
    if (!found) problems.push(`${o.key} has disappeared`);
    else if (etag === undefined)
      problems.push(`the store answered the write of ${o.key} without an ETag, so this run cannot tell it from another's`);
    else if (found.etag !== etag || found.size !== o.bytes)
      problems.push(`${o.key} is not this run's (ETag ${found.etag}, ${found.size} bytes; this run wrote ETag ${etag}, ${o.bytes} bytes)`);
  }
  for (const key of absent) {
    const found = listed.get(key);
    if (found)
      problems.push(
        `${key} already exists (ETag ${found.etag}, ${found.size} bytes${found.lastModified ? `, written ${found.lastModified.toISOString()}` : ''})`,
      );
  }
  return problems;
}

/** Commands that create an object and carry `If-None-Match: *` (objectParams). */
const CREATING_COMMANDS = new Set(['PutObjectCommand', 'CompleteMultipartUploadCommand']);

/**
 * Makes `If-None-Match: *` hold also on a store that ignores it: right before a write that
 * carries it (a PutObject, or the CompleteMultipartUpload that creates a multipart object),
 * the key is listed, and if an object is there the write is not sent and fails as S3 would
 * (`PreconditionFailed`), so nothing is overwritten. Listing and writing are two requests, so
 * a write landing between them still wins on such a store: the manifest's checks
 * (`contradictions`) catch that. On S3 the list only ever finds nothing and S3 judges the write.
 */
export function refuseTakenKeys(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Bucket?: string; Key?: string; IfNoneMatch?: string };
      if (CREATING_COMMANDS.has(context.commandName ?? '') && input.IfNoneMatch === '*' && input.Bucket && input.Key) {
        const there = (await listWithEtags(client, input.Bucket, input.Key)).get(input.Key);
        if (there) {
          throw Object.assign(
            new Error(
              `s3://${input.Bucket}/${input.Key} already exists (ETag ${there.etag}, ${there.size} bytes), found just before writing it: nothing was written there`,
            ),
            { name: 'PreconditionFailed' },
          );
        }
      }
      return next(args);
    },
    // Innermost of the initialize step (added after the failure watch), and before retries.
    { step: 'initialize', name: 'pgS3BackupRefuseTakenKeys' },
  );
}

/**
 * Holds the writes that would make chosen objects visible (a PutObject, or the
 * CompleteMultipartUpload that assembles a multipart object) until the caller releases them all
 * at once: a parallel backup's pieces appear only once every stream has succeeded. `ready(key)`
 * settles when the write of `key` has arrived and waits: its stream has finished and every part
 * of it is stored. `cancel(err)` fails every held write (and any that arrives later) with `err`,
 * so that lib-storage aborts those multipart uploads and no piece appears.
 */
export class CompletionHold {
  private readonly arrived = new Map<string, () => void>();
  private readonly waiting = new Map<string, Promise<void>>();
  private readonly gate: Promise<void>;
  private open: () => void = () => undefined;
  private shut: (err: Error) => void = () => undefined;

  /** `holds(key)` says which keys' writes wait (a parallel backup's schema and pieces). */
  constructor(private readonly holds: (key: string) => boolean) {
    this.gate = new Promise<void>((resolve, reject) => {
      this.open = resolve;
      this.shut = reject;
    });
    this.gate.catch(() => undefined);
  }

  /** Holds the writes `client` sends. */
  public attach(client: S3Client): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? '';
        if (CREATING_COMMANDS.has(context.commandName ?? '') && this.holds(key)) {
          this.arrivedAt(key)();
          await this.gate;
        }
        return next(args);
      },
      // Outermost: nothing else (the taken-key check) runs until the write is released.
      { step: 'initialize', name: 'pgS3BackupCompletionHold', priority: 'high' },
    );
  }

  /** Settles when the write of `key` is held: its object is complete but for being made visible. */
  public ready(key: string): Promise<void> {
    this.arrivedAt(key);
    return this.waiting.get(key)!;
  }

  /** Lets every held write (and every later one) through. */
  public release(): void {
    this.open();
  }

  /** Fails every held write (and every later one) with `err`. */
  public cancel(err: Error): void {
    this.shut(err);
  }

  private arrivedAt(key: string): () => void {
    if (!this.waiting.has(key)) this.waiting.set(key, new Promise<void>((resolve) => this.arrived.set(key, resolve)));
    return this.arrived.get(key)!;
  }
}

/** A multipart upload that a client opened, or closed (completed or aborted). */
export interface UploadEvent {
  readonly uploadId: string;
  readonly bucket: string;
  readonly key: string;
  readonly open: boolean;
}

/** Tells `report` of each multipart upload `client` opens, and of each it completes or aborts. */
export function reportUploads(client: S3Client, report: (event: UploadEvent) => void): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const input = args.input as { Bucket?: string; Key?: string; UploadId?: string };
      const output = result.output as { UploadId?: string };
      const where = { bucket: input.Bucket ?? '', key: input.Key ?? '' };
      if (context.commandName === 'CreateMultipartUploadCommand' && output.UploadId)
        report({ uploadId: output.UploadId, ...where, open: true });
      if (
        (context.commandName === 'CompleteMultipartUploadCommand' || context.commandName === 'AbortMultipartUploadCommand') &&
        input.UploadId
      )
        report({ uploadId: input.UploadId, ...where, open: false });
      return result;
    },
    { step: 'initialize', name: 'pgS3BackupUploadLedger' },
  );
}

/**
 * Every multipart upload recorded (from the clients of a parallel backup's piece threads), until
 * it completes: after a failed run, {@link abortOpen} aborts any still open. lib-storage aborts an
 * upload whose stream failed, but a run that stopped waiting for in-flight parts (a signal's
 * deadline), or whose abort call failed, would leave one open; this sweep is the second,
 * idempotent try (S3 answers NoSuchUpload for one already gone), so that a failed run leaves no
 * upload open.
 */
export class UploadLedger {
  private readonly open = new Map<string, { readonly bucket: string; readonly key: string }>();

  /** `client` sends the aborts. */
  constructor(private readonly client: S3Client) {}

  /** Records what {@link reportUploads} reported. */
  public record(event: UploadEvent): void {
    if (event.open) this.open.set(event.uploadId, { bucket: event.bucket, key: event.key });
    else this.open.delete(event.uploadId);
  }

  /** Aborts every upload still open; returns the keys whose abort failed (the lifecycle rule removes those parts). */
  public async abortOpen(): Promise<string[]> {
    const failed: string[] = [];
    for (const [uploadId, u] of [...this.open]) {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: u.bucket, Key: u.key, UploadId: uploadId }));
      } catch (err) {
        if ((err as { name?: string }).name !== 'NoSuchUpload') failed.push(u.key);
      }
      this.open.delete(uploadId);
    }
    return failed;
  }
}
