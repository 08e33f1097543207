import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPostgres, LocalPostgresOptions, startLocalPostgres } from './postgres/local-postgres';
import { LocalS3, startLocalS3 } from './s3/local-s3';
import { FaultProxy } from './s3/fault-proxy';

/** What a test needs of an S3-compatible server: s3rver ({@link LocalS3}) or moto (test/support/s3/local-moto.ts). */
export type TestS3Store = Pick<LocalS3, 'endpoint' | 'bucket' | 'env' | 'client' | 'stop'>;

/**
 * One throwaway PostgreSQL cluster and one S3-compatible server (s3rver unless the suite
 * chooses another), behind a {@link FaultProxy}, for a test file, with helpers to read what
 * landed in the bucket and to restore it.
 */
export interface BackupTestEnv<S extends TestS3Store = LocalS3> {
  readonly pg: LocalPostgres;
  readonly s3: S;
  readonly proxy: FaultProxy;
  /** The proxy's endpoint: what the CLI is pointed at. */
  readonly endpoint: string;
  readonly client: S3Client;
  /** Environment for the CLI: database `database`, bucket, proxy endpoint, credentials, `prefix`. */
  cliEnv(database: string, prefix: string, extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  keys(prefix: string): Promise<string[]>;
  get(key: string): Promise<Buffer>;
  put(key: string, body: string): Promise<void>;
  /** Restores an archive with plain pg_restore (the cluster's own) into a new database. */
  restoreInto(archive: Buffer, database: string): void;
  stop(): Promise<void>;
}

/** `pg` chooses the cluster (e.g. `binDir` for a toolchain other than the test project's). */
export function startBackupTestEnv(pgOptions?: LocalPostgresOptions): Promise<BackupTestEnv>;
/** `store` starts the S3-compatible server instead of s3rver (e.g. `startLocalMoto`). */
export function startBackupTestEnv<S extends TestS3Store>(
  pgOptions: LocalPostgresOptions,
  store: () => Promise<S>,
): Promise<BackupTestEnv<S>>;
export async function startBackupTestEnv(
  pgOptions: LocalPostgresOptions = {},
  store: () => Promise<TestS3Store> = startLocalS3,
): Promise<BackupTestEnv<TestS3Store>> {
  const pg = await startLocalPostgres(pgOptions);
  let s3: TestS3Store;
  try {
    s3 = await store();
  } catch (err) {
    await pg.stop();
    throw err;
  }
  const proxy = new FaultProxy(s3.endpoint);
  const endpoint = await proxy.start();
  const client = s3.client();
  return {
    pg,
    s3,
    proxy,
    endpoint,
    client,
    cliEnv: (database, prefix, extra = {}) => ({
      ...pg.env(database),
      ...s3.env(),
      S3_ENDPOINT: endpoint,
      BACKUP_PREFIX: prefix,
      ...extra,
    }),
    keys: async (prefix) => {
      const r = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
      return (r.Contents ?? []).map((o) => o.Key!).sort();
    },
    get: async (key) => {
      const r = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    put: async (key, body) => {
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
    },
    restoreInto: (archive, database) => {
      const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-restore-'));
      try {
        const file = join(dir, 'archive.dump');
        writeFileSync(file, archive);
        const created = spawnSync(join(pg.binDir, 'createdb'), [database], {
          env: { ...process.env, ...pg.env('postgres') },
          encoding: 'utf8',
        });
        if (created.status !== 0) throw new Error(`createdb ${database} failed: ${created.stderr}`);
        const r = spawnSync(join(pg.binDir, 'pg_restore'), ['--exit-on-error', '-d', database, file], {
          env: { ...process.env, ...pg.env(database) },
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`pg_restore into ${database} failed: ${r.stderr}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    stop: async () => {
      await proxy.stop();
      await s3.stop();
      await pg.stop();
    },
  };
}

/** Creates a database of roughly `megabytes` of incompressible-ish rows, so that a dump takes seconds. */
export async function createBulkDatabase(pg: LocalPostgres, database: string, megabytes: number): Promise<void> {
  await pg.createDatabase(database);
  const rows = Math.round((megabytes * 1e6) / 110);
  await pg.psql(
    `create table bulk as select g as id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) as payload from generate_series(1, ${rows}) g;`,
    { database },
  );
}
