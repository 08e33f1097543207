import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
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
