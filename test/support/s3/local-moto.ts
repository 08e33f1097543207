import { CreateBucketCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as http from 'node:http';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * A throwaway moto S3 server (`moto_server`, Python) on a free port of 127.0.0.1, for what
 * s3rver cannot judge. moto 5.2 enforces `If-None-Match: *` on PutObject and
 * CompleteMultipartUpload (412 PreconditionFailed), refuses DeleteObject of a version under
 * Object Lock retention (403) and, in a bucket with a default retention, an upload without
 * Content-MD5 or a checksum header (400). It keeps everything in memory: nothing to delete.
 *
 * Seen with moto 5.2.1, and relied on by the tests that use it: it does NOT validate part or
 * object checksums (no BadDigest), and it applies a bucket's default retention to PutObject
 * only, not to objects made by CompleteMultipartUpload.
 */
export interface LocalMoto {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** The bucket created at start. */
  readonly bucket: string;
  /** Variables that point the CLI at this server: endpoint, `bucket` (default {@link bucket}), credentials, region. */
  env(bucket?: string): Record<string, string>;
  /** An SDK client for this server. */
  client(): S3Client;
  /** Creates another bucket, optionally with Object Lock. */
  createBucket(name: string, options?: MotoBucketOptions): Promise<void>;
  /** Stops the server. Idempotent. */
  stop(): Promise<void>;
}

export interface MotoBucketOptions {
  /**
   * Create the bucket with Object Lock enabled (which turns on versioning) and this default
   * retention for every new object version. @default - no Object Lock
   */
  readonly objectLock?: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly days: number };
}

/** moto accepts any signature; these only satisfy the SDK's credential chain. */
export const LOCAL_MOTO_CREDENTIALS = { accessKeyId: 'MOTO', secretAccessKey: 'MOTO' };

export const MOTO_INSTALL_HINT =
  "moto_server was not found. The strict-S3 suites need moto 5.2+ with its server: pip install 'moto[server]>=5.2' " +
  '(preinstalled under pyenv on the project machines: ~/.pyenv/shims/moto_server), or set MOTO_SERVER to its path.';

const READY_TIMEOUT_MS = 30_000;

/** `moto_server`: MOTO_SERVER, else the first on PATH, else pyenv's shim; throws with the install hint (never a silent skip). */
export function findMotoServer(): string {
  const candidates = process.env.MOTO_SERVER
    ? [process.env.MOTO_SERVER]
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), join(homedir(), '.pyenv', 'shims')].map((d) => join(d, 'moto_server'));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  throw new Error(`${MOTO_INSTALL_HINT} Looked in: ${candidates.join(', ')}.`);
}

/** Starts moto on a free port and creates `bucket` (default 'backups'), with Object Lock if asked. */
export async function startLocalMoto(options: { bucket?: string } & MotoBucketOptions = {}): Promise<LocalMoto> {
  const program = findMotoServer();
  let server: Started | undefined;
  // A free port can be taken between finding and binding it: try a few.
  for (let attempt = 1; !server; attempt++) {
    const port = await freePort();
    try {
      server = await startServer(program, port);
    } catch (err) {
      if (attempt === 3 || !/Address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
  const { child, endpoint } = server;
  const bucket = options.bucket ?? 'backups';
  const clients: S3Client[] = [];
  const client = () => {
    const c = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: LOCAL_MOTO_CREDENTIALS });
    clients.push(c);
    return c;
  };
  let stopped = false;
  const moto: LocalMoto = {
    endpoint,
    bucket,
    env: (name = bucket) => ({
      S3_ENDPOINT: endpoint,
      BACKUP_BUCKET: name,
      AWS_ACCESS_KEY_ID: LOCAL_MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_MOTO_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    }),
    client,
    createBucket: async (name, bucketOptions = {}) => {
      const c = client();
      const lock = bucketOptions.objectLock;
      await c.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: lock ? true : undefined }));
      if (lock) {
        await c.send(
          new PutObjectLockConfigurationCommand({
            Bucket: name,
            ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: lock.mode, Days: lock.days } } },
          }),
        );
      }
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.destroy();
      await stopChild(child);
    },
  };
  try {
    await moto.createBucket(bucket, options);
  } catch (err) {
    await moto.stop();
    throw err;
  }
  return moto;
}

interface Started {
  readonly child: ChildProcess;
  readonly endpoint: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Spawns moto_server and waits until it answers HTTP, or throws with what it printed. */
async function startServer(program: string, port: number): Promise<Started> {
  const endpoint = `http://127.0.0.1:${port}`;
  // Its own process group, so that stop() also ends whatever a pyenv shim put between us and Python.
  const child = spawn(program, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let output = '';
  // moto logs every request on stderr: keep reading (a full pipe would block it), keep the tail.
  child.stderr.on('data', (c: Buffer) => (output = (output + c.toString('utf8')).slice(-4000)));
  const exited = new Promise<string>((resolve) => {
    child.on('error', (err) => resolve(`could not be started: ${err.message}`));
    child.on('exit', (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}`));
  });
  const killOnExit = () => killGroup(child, 'SIGKILL');
  process.once('exit', killOnExit);
  child.on('exit', () => process.removeListener('exit', killOnExit));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const early = await Promise.race([exited, sleep(100).then(() => undefined)]);
    if (early !== undefined)
      throw new Error(`${program} ${early} before it answered on ${endpoint}:\n${output.trim()}\n${MOTO_INSTALL_HINT}`);
    if (await answers(endpoint)) return { child, endpoint };
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`${program} did not answer on ${endpoint} within ${READY_TIMEOUT_MS / 1000} s:\n${output.trim()}`);
    }
  }
}

function answers(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${endpoint}/moto-api/`, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.setTimeout(1000, () => req.destroy());
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 5000)));
  const outcome = await Promise.race([gone.then(() => 'gone' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    killGroup(child, 'SIGKILL');
    await gone;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
