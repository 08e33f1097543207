/**
 * The moto harness (test/support/s3/local-moto.ts) itself: it starts a real moto_server, says
 * how to install it when it is missing or broken (never a silent skip), and stops it.
 */
import { GetObjectLockConfigurationCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import * as http from 'node:http';
import { startLocalMoto } from '../support/s3/local-moto';

function withMotoServer<T>(path: string, run: () => Promise<T>): Promise<T> {
  const saved = process.env.MOTO_SERVER;
  process.env.MOTO_SERVER = path;
  return run().finally(() => {
    if (saved === undefined) delete process.env.MOTO_SERVER;
    else process.env.MOTO_SERVER = saved;
  });
}

const answers = (endpoint: string) =>
  new Promise<boolean>((resolve) =>
    http.get(`${endpoint}/moto-api/`, (r) => resolve(r.statusCode === 200)).on('error', () => resolve(false)),
  );

test('starts on a free port of 127.0.0.1 with its bucket (Object Lock and default retention when asked), and stop() ends it', async () => {
  const moto = await startLocalMoto({ bucket: 'harness-locked', objectLock: { mode: 'COMPLIANCE', days: 2 } });
  try {
    expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(moto.env()).toMatchObject({ S3_ENDPOINT: moto.endpoint, BACKUP_BUCKET: 'harness-locked', AWS_REGION: 'us-east-1' });
    const client = moto.client();
    expect((await client.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual(['harness-locked']);
    const lock = await client.send(new GetObjectLockConfigurationCommand({ Bucket: 'harness-locked' }));
    expect(lock.ObjectLockConfiguration).toMatchObject({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2 } },
    });
  } finally {
    await moto.stop();
  }
  expect(await answers(moto.endpoint)).toBe(false);
  await moto.stop(); // idempotent
});

test('a missing moto_server fails with the install hint', async () => {
  await expect(withMotoServer('/nonexistent/moto_server', () => startLocalMoto())).rejects.toThrow(
    /moto_server was not found.*pip install 'moto\[server\]>=5\.2'.*MOTO_SERVER.*Looked in: \/nonexistent\/moto_server/s,
  );
});

test('a moto_server that exits before answering fails with what it printed and the install hint', async () => {
  await expect(withMotoServer('/bin/false', () => startLocalMoto())).rejects.toThrow(
    /\/bin\/false exited with code 1 before it answered on http:\/\/127\.0\.0\.1:\d+.*pip install/s,
  );
});
