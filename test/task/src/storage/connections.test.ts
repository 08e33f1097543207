/**
 * How many connections a multipart upload opens. Against the local S3 server over HTTP, through
 * the recording proxy (which counts the TCP connections it accepts), with the real SDK and
 * lib-storage. In AWS every new connection is a TLS handshake with S3.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { FaultProxy } from '../../../support/s3/fault-proxy';
import { LocalS3, startLocalS3 } from '../../../support/s3/local-s3';
import { createS3Client, StorageConfig } from '../../../../task/src/storage/s3';
import { startStreamUpload } from '../../../../task/src/storage/upload';

let s3: LocalS3;
let proxy: FaultProxy;
let client: S3Client;
let storage: StorageConfig;

beforeAll(async () => {
  s3 = await startLocalS3();
  proxy = new FaultProxy(s3.endpoint);
  const endpoint = await proxy.start();
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.env().AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: s3.env().AWS_SECRET_ACCESS_KEY });
  storage = { bucket: s3.bucket, endpoint, region: 'us-east-1', maxAttempts: 1, timeoutSeconds: 30, checksum: 'SHA256' };
  client = createS3Client(storage);
});

afterAll(async () => {
  client?.destroy();
  await proxy?.stop();
  await s3?.stop();
});

test('a multipart upload reuses kept-alive connections: not one new connection (TLS handshake) per part', async () => {
  // GIVEN a body of 8 parts of 5 MiB (over the 2 MB above which the SDK would send
  // `Expect: 100-continue` and, for such a request, open a connection it does not keep)
  const partSizeBytes = 5 * 1024 * 1024;
  const parts = 8;
  const data = randomBytes(partSizeBytes * parts);
  const body = Readable.from(
    (function* () {
      for (let at = 0; at < data.length; at += 64 * 1024) yield data.subarray(at, at + 64 * 1024);
    })(),
  );
  // WHEN it is uploaded two parts at a time
  const queueSize = 2;
  const { done } = startStreamUpload({
    client,
    bucket: s3.bucket,
    key: 'conn/backup.dump',
    body,
    partSizeBytes,
    queueSize,
    checksum: 'SHA256',
    tier: 'daily',
    contentType: 'application/octet-stream',
  });
  await done;
  // THEN every part was sent, none waiting for a 100 Continue, over no more connections than
  // parts in flight (plus one for the requests around them)
  const uploaded = proxy.seen.filter((r) => r.operation === 'UploadPart');
  expect(uploaded).toHaveLength(parts);
  expect(uploaded.filter((r) => r.headers.expect !== undefined)).toEqual([]);
  expect(proxy.connections).toBeLessThanOrEqual(queueSize + 1);
});
