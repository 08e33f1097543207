import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';

/**
 * An S3-shaped HTTP endpoint that throws the bytes away, so the benchmark can time the
 * backup pipeline without a storage server's CPU on the same 2-core machine.
 *
 * It answers, path-style and without checking signatures, exactly the calls `backup` makes
 * (ListObjectsV2, CreateMultipartUpload, UploadPart, CompleteMultipartUpload, PutObject,
 * AbortMultipartUpload) plus HeadObject, with the minimal valid XML the SDK parses. It keeps
 * each object's size and the ETag it answered the write with, and lists and heads them as a
 * store would: the backup lists its own objects after writing them (the size check, and the
 * ETags `writeManifestAlone` compares) and refuses a store that answers otherwise. The bytes
 * themselves are counted and dropped; nothing here can be read back (restores use s3rver).
 */
export interface DiscardS3 {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Requests seen per operation, for the benchmark's sanity checks. */
  readonly counts: Readonly<Record<string, number>>;
  /** Bytes received in request bodies (payload, after aws-chunked framing when used). */
  readonly bodyBytes: () => number;
  /** Forgets the stored objects (between runs). */
  clear(): void;
  stop(): Promise<void>;
}

const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const etag = () => `"${randomBytes(16).toString('hex')}"`;

/** What the endpoint remembers of an object: what a listing shows. */
interface Stored {
  readonly size: number;
  /** Quoted, as returned to the write that created the object. */
  readonly etag: string;
  readonly lastModified: Date;
}

export async function startDiscardS3(): Promise<DiscardS3> {
  const objects = new Map<string, Stored>();
  const uploads = new Map<string, { key: string; bytes: number }>();
  const counts: Record<string, number> = {};
  let received = 0;

  const store = (key: string, size: number): Stored => {
    const o = { size, etag: etag(), lastModified: new Date() };
    objects.set(key, o);
    return o;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, bytes: number) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    const q = url.searchParams;
    const send = (op: string, status: number, headers: Record<string, string> = {}, body = '') => {
      counts[op] = (counts[op] ?? 0) + 1;
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    // The payload length: aws-chunked bodies carry it in x-amz-decoded-content-length.
    const payload = Number(req.headers['x-amz-decoded-content-length'] ?? bytes);
    // Echo the additional checksum the client sent, as S3 does.
    const checksums = Object.fromEntries(
      Object.entries(req.headers).filter(([h]) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-type') as [string, string][],
    );

    if (req.method === 'GET' && !key && q.get('list-type') === '2') {
      const prefix = q.get('prefix') ?? '';
      const found = [...objects].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
      const contents = found.map(
        ([k, o]) =>
          `<Contents><Key>${esc(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${esc(o.etag)}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
      return send(
        'ListObjectsV2',
        200,
        {},
        xml(
          `<ListBucketResult><Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${found.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents.join('')}</ListBucketResult>`,
        ),
      );
    }
    if (req.method === 'POST' && q.has('uploads')) {
      const id = randomBytes(8).toString('hex');
      uploads.set(id, { key, bytes: 0 });
      return send(
        'CreateMultipartUpload',
        200,
        {},
        xml(
          `<InitiateMultipartUploadResult><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
        ),
      );
    }
    const upload = uploads.get(q.get('uploadId') ?? '');
    if (req.method === 'PUT' && q.has('partNumber')) {
      if (!upload) return send('UploadPart', 404, {}, xml('<Error><Code>NoSuchUpload</Code></Error>'));
      upload.bytes += payload;
      return send('UploadPart', 200, { etag: etag(), ...checksums });
    }
    if (req.method === 'POST' && q.has('uploadId')) {
      if (!upload) return send('CompleteMultipartUpload', 404, {}, xml('<Error><Code>NoSuchUpload</Code></Error>'));
      uploads.delete(q.get('uploadId')!);
      const stored = store(upload.key, upload.bytes);
      return send(
        'CompleteMultipartUpload',
        200,
        {},
        xml(
          `<CompleteMultipartUploadResult><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><ETag>${esc(stored.etag)}</ETag></CompleteMultipartUploadResult>`,
        ),
      );
    }
    if (req.method === 'DELETE' && upload) {
      uploads.delete(q.get('uploadId')!);
      return send('AbortMultipartUpload', 204);
    }
    if (req.method === 'PUT' && key) {
      return send('PutObject', 200, { etag: store(key, payload).etag, ...checksums });
    }
    if (req.method === 'HEAD' && key) {
      const o = objects.get(key);
      counts.HeadObject = (counts.HeadObject ?? 0) + 1;
      res.writeHead(
        o === undefined ? 404 : 200,
        o === undefined ? {} : { 'content-length': String(o.size), etag: o.etag, 'last-modified': o.lastModified.toUTCString() },
      );
      return res.end();
    }
    return send(
      `unsupported ${req.method}`,
      501,
      {},
      xml(`<Error><Code>NotImplemented</Code><Message>${esc(`${req.method} ${req.url}`)}</Message></Error>`),
    );
  };

  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      received += bytes;
      handle(req, res, bytes);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    bodyBytes: () => received,
    clear: () => objects.clear(),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
