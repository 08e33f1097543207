import * as http from 'node:http';
import { AddressInfo } from 'node:net';

/** One request the proxy saw. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly operation: S3Operation;
  readonly bodyBytes: number;
}

export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'PutObject'
  | 'ListObjectsV2'
  | 'GetObject'
  | 'HeadObject'
  | 'Other';

/** What a rule tells the proxy to do with a request. */
export type FaultAction =
  /**
   * Forward to the server. `rewriteBody` changes what comes back; `bytesPerSecond` sends the
   * response body slowly (64 KiB at a time), as a slow link to S3 would, so that a transfer
   * can outlast a stop timeout without a huge archive. `cutAfterBytes` sends the headers (the
   * full length) and that much of the body, then drops the connection: a transfer that breaks
   * mid-body, which the SDK does not retry. `rewriteRequestBody` changes what reaches the
   * server while the headers (signature, checksums) stay as the client sent them: a part
   * damaged in flight. `waitFor` holds the request until it resolves, to order a request
   * after something else (another run's request, a write the test makes to the store).
   */
  | {
      readonly kind: 'forward';
      readonly rewriteRequestBody?: (body: Buffer) => Buffer;
      readonly waitFor?: () => Promise<unknown>;
      readonly rewriteBody?: (body: string) => string;
      readonly bytesPerSecond?: number;
      readonly cutAfterBytes?: number;
    }
  | { readonly kind: 'respond'; readonly status: number; readonly body?: string }
  | { readonly kind: 'reset' };

export type FaultRule = (req: SeenRequest, countOfThisOperation: number) => FaultAction | undefined;

/** Classifies an S3 REST request by method and query string. */
export function operationOf(method: string, url: string): S3Operation {
  const q = new URL(url, 'http://x').searchParams;
  if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'PUT' && q.has('partNumber')) return 'UploadPart';
  if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'PUT') return 'PutObject';
  if (method === 'GET' && q.get('list-type') === '2') return 'ListObjectsV2';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  return 'Other';
}

/**
 * An HTTP proxy in front of a local S3-compatible server that records every request and can
 * inject faults: error statuses, dropped connections, rewritten responses. It covers what
 * s3rver cannot show by itself (transient 5xx, an abort that succeeds as on AWS, a store
 * that lies about a size). Tests that use it say which behaviour it stands in for.
 */
export class FaultProxy {
  public readonly seen: SeenRequest[] = [];
  /** TCP connections clients opened to the proxy since the last clear(). */
  public connections = 0;
  private rules: FaultRule[] = [];
  private readonly counts = new Map<S3Operation, number>();
  private server?: http.Server;

  constructor(private readonly upstream: string) {}

  /** Starts listening on a random port of 127.0.0.1 and returns its endpoint URL. */
  public async start(): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', () => this.connections++);
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Adds a rule; the first rule that returns an action decides. */
  public addRule(rule: FaultRule): void {
    this.rules.push(rule);
  }

  public clear(): void {
    this.rules = [];
    this.seen.length = 0;
    this.connections = 0;
    this.counts.clear();
  }

  public count(operation: S3Operation): number {
    return this.seen.filter((r) => r.operation === operation).length;
  }

  public async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const operation = operationOf(req.method ?? 'GET', req.url ?? '/');
    const n = (this.counts.get(operation) ?? 0) + 1;
    this.counts.set(operation, n);
    const seen: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, operation, bodyBytes: body.length };
    this.seen.push(seen);
    let action: FaultAction = { kind: 'forward' };
    for (const rule of this.rules) {
      const a = rule(seen, n);
      if (a) {
        action = a;
        break;
      }
    }
    if (action.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (action.kind === 'respond') {
      res.writeHead(action.status, { 'content-type': 'application/xml' });
      res.end(
        action.body ??
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected ${action.status}</Message></Error>`,
      );
      return;
    }
    // A wait that fails (a timeout) forwards anyway: the test then fails on what the CLI did, not on a hung request.
    if (action.waitFor) await action.waitFor().catch(() => undefined);
    const target = new URL(req.url ?? '/', this.upstream);
    const sent = action.rewriteRequestBody ? action.rewriteRequestBody(body) : body;
    const upstreamRes = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const headers = { ...req.headers, host: target.host };
      if (sent !== body && headers['content-length'] !== undefined) headers['content-length'] = String(sent.length);
      const out = http.request(target, { method: req.method, headers }, resolve);
      out.on('error', reject);
      out.end(sent);
    }).catch(() => undefined);
    if (!upstreamRes) {
      res.writeHead(502);
      res.end();
      return;
    }
    const resChunks: Buffer[] = [];
    for await (const c of upstreamRes) resChunks.push(c as Buffer);
    let resBody: Buffer = Buffer.concat(resChunks);
    const headers = { ...upstreamRes.headers };
    if (action.rewriteBody) {
      resBody = Buffer.from(action.rewriteBody(resBody.toString('utf8')));
      headers['content-length'] = String(resBody.length);
    }
    res.writeHead(upstreamRes.statusCode ?? 502, headers);
    if (action.cutAfterBytes !== undefined) {
      res.write(resBody.subarray(0, action.cutAfterBytes), () => res.socket?.destroy());
      return;
    }
    if (!action.bytesPerSecond) {
      res.end(resBody);
      return;
    }
    // Slowly, until done or until the client goes away (an aborted download closes the socket).
    const chunk = 64 * 1024;
    let gone = false;
    res.on('close', () => (gone = true));
    for (let at = 0; at < resBody.length && !gone; at += chunk) {
      res.write(resBody.subarray(at, at + chunk));
      await new Promise((r) => setTimeout(r, (chunk / action.bytesPerSecond!) * 1000));
    }
    if (!gone) res.end();
  }
}
