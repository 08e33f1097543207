/**
 * How many connections a multipart upload opens. Against the local S3 server over HTTP, through
 * the recording proxy (which counts the TCP connections it accepts), with the real SDK and
 * lib-storage. In AWS every new connection is a TLS handshake with S3.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ProxiedClient, startProxiedClient } from '../../../support/s3/proxied-client';
import { startStreamUpload } from '../../../../task/src/storage/upload';

let proxied: ProxiedClient;

beforeAll(async () => {
  proxied = await startProxiedClient('SHA256');
});

afterAll(async () => {
  await proxied?.stop();
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
    client: proxied.client,
    bucket: proxied.s3.bucket,
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
  const uploaded = proxied.proxy.seen.filter((r) => r.operation === 'UploadPart');
  expect(uploaded).toHaveLength(parts);
  expect(uploaded.filter((r) => r.headers.expect !== undefined)).toEqual([]);
  expect(proxied.proxy.connections).toBeLessThanOrEqual(queueSize + 1);
});
