import { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** A throwaway S3-compatible server (s3rver, in-process, random port on 127.0.0.1). */
export interface LocalS3 {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly bucket: string;
  /** Where s3rver keeps the objects. */
  readonly directory: string;
  /** Variables that point the CLI at this server (endpoint, bucket, dummy credentials, region). */
  env(): Record<string, string>;
  /** An SDK client for this server, for tests and the demo. */
  client(): S3Client;
  /** Stops the server and deletes its files. Idempotent. */
  stop(): Promise<void>;
}

/** s3rver accepts any signature; these only satisfy the SDK's credential chain. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startLocalS3(options: { bucket?: string } = {}): Promise<LocalS3> {
  const bucket = options.bucket ?? 'backups';
  const directory = mkdtempSync(join(tmpdir(), 'pg-s3-backup-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  const clients: S3Client[] = [];
  return {
    endpoint,
    bucket,
    directory,
    env: () => ({
      S3_ENDPOINT: endpoint,
      BACKUP_BUCKET: bucket,
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    }),
    client: () => {
      const c = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: LOCAL_S3_CREDENTIALS });
      clients.push(c);
      return c;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.destroy();
      server.httpServer?.closeAllConnections();
      await server.close().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
