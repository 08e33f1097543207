/**
 * openObjectInParts: a full read of a stored object as ranged GETs, several at once, passed on
 * in order. Against the local S3 server over HTTP, through the recording proxy, with the real
 * SDK; small parts so that a small object has many.
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LocalS3 } from '../../../support/s3/local-s3';
import { ProxiedClient, startProxiedClient } from '../../../support/s3/proxied-client';
import { openObjectInParts } from '../../../../task/src/archive/objects';
import { StorageConfig } from '../../../../task/src/storage/s3';
import { FaultProxy } from '../../../support/s3/fault-proxy';

let s3: LocalS3;
let proxy: FaultProxy;
let client: S3Client;
let storage: StorageConfig;
let proxied: ProxiedClient;
const PART = 64 * 1024;

beforeAll(async () => {
  proxied = await startProxiedClient('none');
  ({ s3, proxy, client, storage } = proxied);
});

afterAll(async () => {
  await proxied?.stop();
});

beforeEach(() => proxy.clear());

async function put(key: string, body: Buffer): Promise<void> {
  await s3.client().send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
}

async function readAll(key: string, concurrency = 3, partBytes = PART): Promise<Buffer> {
  const out: Buffer[] = [];
  const body = await openObjectInParts(client, storage, key, undefined, { partBytes, concurrency });
  await pipeline(
    body,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

const ranges = () => proxy.seen.filter((r) => r.operation === 'GetObject').map((r) => String(r.headers.range));
const start = (range: string) => Number(/bytes=(\d+)-/.exec(range)![1]);
const byStart = (a: string, b: string) => start(a) - start(b);

test('an object of 5.5 parts comes back byte for byte, in order, as a HEAD and 6 ranged GETs', async () => {
  const data = randomBytes(PART * 5 + PART / 2);
  await put('parted/a.dump', data);
  expect((await readAll('parted/a.dump')).equals(data)).toBe(true);
  expect(proxy.count('HeadObject')).toBe(1);
  expect(ranges().sort(byStart)).toEqual(
    Array.from({ length: 6 }, (_, i) => `bytes=${i * PART}-${Math.min((i + 1) * PART, data.length) - 1}`),
  );
});

test('parts are fetched several at once: the first three together, the fourth only once the first is passed on', async () => {
  const part = 256 * 1024;
  const data = randomBytes(part * 6);
  await put('parted/b.dump', data);
  // The first part comes slowly (four 64 KiB writes at 128 KiB/s: 1.5 s). Not a speed measure: a
  // read one part at a time would ask for the second only after the first.
  const arrivals: number[] = [];
  proxy.addRule((req, n) => {
    if (req.operation !== 'GetObject') return undefined;
    arrivals.push(Date.now());
    return n === 1 ? { kind: 'forward', bytesPerSecond: 128 * 1024 } : undefined;
  });
  expect((await readAll('parted/b.dump', 3, part)).equals(data)).toBe(true);
  expect(Math.max(...arrivals.slice(0, 3)) - arrivals[0]).toBeLessThan(1000);
  expect(arrivals[3] - arrivals[0]).toBeGreaterThanOrEqual(1000);
  const seen = ranges();
  expect(seen.slice(0, 3).sort(byStart)).toEqual([0, 1, 2].map((i) => `bytes=${i * part}-${(i + 1) * part - 1}`));
});

test('the whole object is read whatever size anyone expects: a HEAD says how long it is (an empty one too)', async () => {
  const data = randomBytes(PART * 2 + 7);
  await put('parted/c.dump', data);
  expect((await readAll('parted/c.dump')).length).toBe(data.length);
  await put('parted/empty.dump', Buffer.alloc(0));
  expect((await readAll('parted/empty.dump')).length).toBe(0);
});

test('a part that fails fails the stream with a storage error naming the object', async () => {
  const data = randomBytes(PART * 4);
  await put('parted/d.dump', data);
  proxy.addRule((req) =>
    req.operation === 'GetObject' && req.headers.range === `bytes=${2 * PART}-${3 * PART - 1}`
      ? { kind: 'respond', status: 500 }
      : undefined,
  );
  await expect(readAll('parted/d.dump')).rejects.toMatchObject({ exitCode: 4, message: expect.stringMatching(/parted\/d\.dump/) });
});
