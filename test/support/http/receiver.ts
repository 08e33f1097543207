import * as http from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/** One request a {@link Receiver} got. */
export interface ReceivedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: string;
  /** Milliseconds since the receiver started. */
  readonly at: number;
}

/** How the receiver answers: 200, an error status, or never (it reads the request and holds the connection). */
export type ReceiverMode = { readonly kind: 'answer'; readonly status: number } | { readonly kind: 'hang' };

/**
 * A local HTTP server standing in for a ping service (healthchecks.io) or a chat webhook
 * (Slack, Mattermost, Teams): it records every request, and answers as `mode` says.
 */
export interface Receiver {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  readonly requests: ReceivedRequest[];
  mode: ReceiverMode;
  /** The requests whose path starts with `prefix`. */
  to(prefix: string): ReceivedRequest[];
  stop(): Promise<void>;
}

export async function startReceiver(mode: ReceiverMode = { kind: 'answer', status: 200 }): Promise<Receiver> {
  const started = Date.now();
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const state: { mode: ReceiverMode } = { mode };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now() - started,
      });
      if (state.mode.kind === 'hang') return; // never answers; the socket is closed by stop()
      res.writeHead(state.mode.status, { 'content-type': 'text/plain' }).end('OK');
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    get mode() {
      return state.mode;
    },
    set mode(m: ReceiverMode) {
      state.mode = m;
    },
    to: (prefix) => requests.filter((r) => r.path.startsWith(prefix)),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An origin where nothing listens: a port that was just bound and released (connections are refused). */
export async function refusingOrigin(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
