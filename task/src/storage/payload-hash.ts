import { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';

/** Operations whose body is archive data (a part, or the whole object when it fits in one). */
const DATA_COMMANDS = new Set(['UploadPartCommand', 'PutObjectCommand']);

/**
 * Hashes each request body once when its additional checksum is SHA-256 (`ChecksumAlgorithm`).
 *
 * Without this the SDK hashes every part twice with the same function: once for the
 * `x-amz-checksum-sha256` header S3 verifies, and once more for Signature V4's
 * `x-amz-content-sha256` payload hash. Both are the SHA-256 of the same bytes (base64 and
 * hex), so this middleware computes it once and sets both headers; the SDK's checksum
 * middleware then leaves the request alone and the signer uses the given payload hash.
 * The request stays fully signed and checksummed; only the duplicate pass is gone.
 */
export function hashPayloadOnce(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown } | undefined;
      const body = request?.body;
      const headers = request?.headers;
      const algorithm = (args.input as { ChecksumAlgorithm?: string }).ChecksumAlgorithm;
      if (
        algorithm === 'SHA256' &&
        headers &&
        DATA_COMMANDS.has(context.commandName ?? '') &&
        body instanceof Uint8Array &&
        !hasChecksumHeader(headers)
      ) {
        const digest = createHash('sha256').update(body).digest();
        headers['x-amz-checksum-sha256'] = digest.toString('base64');
        headers['x-amz-content-sha256'] = digest.toString('hex');
      }
      return next(args);
    },
    // Build step, ahead of the SDK's flexible-checksums middleware (same step, normal priority).
    { step: 'build', priority: 'high', name: 'pgS3BackupHashPayloadOnce' },
  );
}

function hasChecksumHeader(headers: Record<string, string>): boolean {
  return Object.keys(headers).some((h) => h.toLowerCase().startsWith('x-amz-checksum-') || h.toLowerCase() === 'x-amz-content-sha256');
}
