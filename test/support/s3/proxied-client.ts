import { S3Client } from '@aws-sdk/client-s3';
import { createS3Client, StorageConfig } from '../../../task/src/storage/s3';
import { FaultProxy } from './fault-proxy';
import { LocalS3, startLocalS3 } from './local-s3';

/** The CLI's own S3 client, talking to a local s3rver through the recording proxy. */
export interface ProxiedClient {
  readonly s3: LocalS3;
  readonly proxy: FaultProxy;
  readonly client: S3Client;
  readonly storage: StorageConfig;
  /** Destroys the client, then stops the proxy and the server. */
  stop(): Promise<void>;
}

/** Starts s3rver and the proxy in front of it, and a client made by `createS3Client` (one attempt per request). */
export async function startProxiedClient(checksum: StorageConfig['checksum']): Promise<ProxiedClient> {
  const s3 = await startLocalS3();
  const proxy = new FaultProxy(s3.endpoint);
  const endpoint = await proxy.start();
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.env().AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: s3.env().AWS_SECRET_ACCESS_KEY });
  const storage: StorageConfig = { bucket: s3.bucket, endpoint, region: 'us-east-1', maxAttempts: 1, timeoutSeconds: 30, checksum };
  const client = createS3Client(storage);
  return {
    s3,
    proxy,
    client,
    storage,
    stop: async () => {
      client.destroy();
      await proxy.stop();
      await s3.stop();
    },
  };
}
