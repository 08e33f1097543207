import { ListObjectsV2Command, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { describeError, ExitCode, Stage, TaskError } from '../errors';
import { hashPayloadOnce } from './payload-hash';

/** Where backups are stored and how to talk to the store. */
export interface StorageConfig {
  readonly bucket: string;
  readonly prefix?: string;
  /** Endpoint of an S3-compatible store; path-style addressing is used with it. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Attempts per request, retries included. */
  readonly maxAttempts: number;
  /** Idle-socket timeout per attempt; connecting may take at most min(10 s, this). */
  readonly timeoutSeconds: number;
  /** Additional checksum S3 verifies for every part; 'none' sends only what a request requires. */
  readonly checksum: 'SHA256' | 'CRC32' | 'CRC32C' | 'none';
}

/**
 * Creates an S3 client for the store. Transient failures (5xx, throttling, resets,
 * timeouts) are retried by the SDK's standard strategy up to `maxAttempts`; a store that
 * stays down therefore fails a request in bounded time: roughly maxAttempts x (connect
 * timeout or idle timeout) plus at most 20 s of backoff between attempts.
 *
 * `onFailure` sees every request's final error (after retries), so a caller can stop
 * feeding an upload the moment one part has failed for good.
 */
export function createS3Client(config: StorageConfig, onFailure?: (err: unknown, command: string) => void): S3Client {
  const options: S3ClientConfig = {
    maxAttempts: config.maxAttempts,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: Math.min(10, config.timeoutSeconds) * 1000,
      socketTimeout: config.timeoutSeconds * 1000,
    },
    requestChecksumCalculation: config.checksum === 'none' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: 'WHEN_SUPPORTED',
    // The SDK sends `Expect: 100-continue` with every body over 2 MB, and the Node handler then
    // opens a new connection (a new TLS handshake on S3) for each such request instead of reusing
    // a kept-alive one: one per part. The parts follow a CreateMultipartUpload that succeeded, so
    // there is no rejection worth waiting for; see docs/performance.md.
    expectContinueHeader: false,
  };
  if (config.endpoint) {
    options.endpoint = config.endpoint;
    options.forcePathStyle = true;
    options.region = config.region ?? 'us-east-1';
  } else if (config.region) {
    options.region = config.region;
  }
  const client = new S3Client(options);
  hashPayloadOnce(client);
  if (onFailure) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          onFailure(err, context.commandName ?? 'S3 request');
          throw err;
        }
      },
      { step: 'initialize', name: 'pgS3BackupFailureWatch' },
    );
  }
  return client;
}

/** A storage failure as a {@link TaskError} whose message says what a person can do. */
export function storageError(err: unknown, stage: Stage, what: string, config: Pick<StorageConfig, 'bucket' | 'endpoint'>): TaskError {
  if (err instanceof TaskError) return err;
  const name = (err as { name?: string })?.name ?? '';
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const where = `s3://${config.bucket}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
  let hint = '';
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(String((err as Error)?.message))) {
    hint = ' No AWS credentials were found: run in a task with a role, or set AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.';
  } else if (name === 'NoSuchBucket' || status === 404) {
    hint = ` Check BACKUP_BUCKET ('${config.bucket}') and the region.`;
  } else if (name === 'PreconditionFailed' || status === 412) {
    hint =
      ' Another writer created an object at this key while the backup ran; it was not overwritten. Run the backup again: it picks a free key.';
  } else if (name === 'AccessDenied' || status === 403) {
    hint = ' Check the role or credentials: they need s3:ListBucket on the prefix and s3:PutObject/s3:PutObjectTagging on its objects.';
  } else if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|socket hang up|TimeoutError/i.test(
      `${name} ${(err as Error)?.message} ${(err as { code?: string })?.code}`,
    )
  ) {
    hint = ' The store could not be reached: check S3_ENDPOINT, the network path (VPC endpoint or NAT) and DNS.';
  }
  return new TaskError(`${what} failed on ${where}: ${describeError(err)}${status ? ` [HTTP ${status}]` : ''}.${hint}`, {
    exitCode: ExitCode.STORAGE,
    stage,
    cause: err,
  });
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified?: Date;
}

/** Lists every object under `prefix` (following continuation tokens). */
export async function listObjects(client: S3Client, bucket: string, prefix: string): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key !== undefined) out.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}
