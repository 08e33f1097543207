import { PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { createHash, createHmac, Hash, Hmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { hashPayloadOnce } from '../../../../task/src/storage/payload-hash';

/** Bytes the SDK hashed with its SHA-256 (the signer's payload hash and the checksum both use it). */
let sdkHashedBytes = 0;
class CountingSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: Uint8Array | string) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  }
  update(data: Uint8Array | string): void {
    sdkHashedBytes += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    this.hash.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }
  reset(): void {}
}

/**
 * A client whose requests are captured (after signing) instead of sent. A stand-in on
 * purpose: no local S3-compatible server checks signatures or checksums, so the signed
 * headers themselves are what this test can assert.
 */
function capturingClient(withMiddleware = true): { client: S3Client; sent: { headers: Record<string, string> }[] } {
  const sent: { headers: Record<string, string> }[] = [];
  const client = new S3Client({
    sha256: CountingSha256 as never,
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: {
      handle: (request: { headers: Record<string, string> }) => {
        sent.push({ headers: { ...request.headers } });
        return Promise.resolve({ response: { statusCode: 200, headers: { etag: '"e"' }, body: Readable.from([]) } });
      },
    } as never,
  });
  if (withMiddleware) hashPayloadOnce(client);
  return { client, sent };
}

const part = Buffer.alloc(256 * 1024, 'pg_dump archive bytes ');
const sha256 = createHash('sha256').update(part).digest();

describe('hashing each part once', () => {
  test('a SHA-256 part carries one digest as both its S3 checksum and its signed payload hash', async () => {
    // GIVEN a client with the middleware
    const { client, sent } = capturingClient();
    // WHEN a part is uploaded with the SHA-256 additional checksum
    await client.send(
      new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: part, ChecksumAlgorithm: 'SHA256' }),
    );
    // THEN the checksum S3 verifies and the payload hash SigV4 signs are the same digest
    const headers = sent[0].headers;
    expect(headers['x-amz-checksum-sha256']).toBe(sha256.toString('base64'));
    expect(headers['x-amz-content-sha256']).toBe(sha256.toString('hex'));
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/.*SignedHeaders=.*x-amz-checksum-sha256.*x-amz-content-sha256/,
    );
    expect(Object.keys(headers).filter((h) => h.startsWith('x-amz-checksum-'))).toEqual(['x-amz-checksum-sha256']);
  });

  test('the SDK no longer hashes the part at all (it hashed it twice before)', async () => {
    const upload = (client: S3Client) =>
      client.send(new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: part, ChecksumAlgorithm: 'SHA256' }));
    sdkHashedBytes = 0;
    await upload(capturingClient(false).client);
    expect(sdkHashedBytes).toBeGreaterThanOrEqual(2 * part.length);
    sdkHashedBytes = 0;
    await upload(capturingClient().client);
    expect(sdkHashedBytes).toBeLessThan(part.length);
  });

  test('PutObject (a dump that fits in one part) is handled the same way', async () => {
    const { client, sent } = capturingClient();
    await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: part, ChecksumAlgorithm: 'SHA256' }));
    expect(sent[0].headers['x-amz-checksum-sha256']).toBe(sha256.toString('base64'));
    expect(sent[0].headers['x-amz-content-sha256']).toBe(sha256.toString('hex'));
  });

  test('other checksum algorithms are left to the SDK', async () => {
    const { client, sent } = capturingClient();
    await client.send(
      new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: part, ChecksumAlgorithm: 'CRC32' }),
    );
    expect(sent[0].headers['x-amz-checksum-crc32']).toBeDefined();
    expect(sent[0].headers['x-amz-checksum-sha256']).toBeUndefined();
    // The SDK's signer still hashes the payload itself.
    expect(sent[0].headers['x-amz-content-sha256']).toBe(sha256.toString('hex'));
  });
});
