/**
 * pg_dump 18's compression methods through the CLI (issue 12): each BACKUP_COMPRESS form is
 * backed up, verified and restored with content identical to the source, the archive really
 * uses that method (its header, as pg_restore -l reads it), and the manifest records the value.
 * The method[:level] forms need pg_dump 16+: this suite runs in the pg18 jest project only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseFingerprint, diffFingerprints, fingerprintDatabase, loadSampleApp } from '../../../support/postgres/fingerprint';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { CliRun, eventOf, runCli } from '../../../support/cli';

/** Exit 0, or a failure that shows why (the `*.failed` event's cause). */
function expectOk(run: CliRun): void {
  const failed = run.events.find((e) => String(e.event).endsWith('.failed'));
  expect({ code: run.code, cause: failed?.cause ?? (run.code === 0 ? undefined : run.stderr) }).toEqual({ code: 0, cause: undefined });
}

// BACKUP_COMPRESS value → the method the archive header must name.
const CASES = [
  ['zstd', 'zstd'],
  ['zstd:3', 'zstd'],
  ['lz4', 'lz4'],
  ['none', 'none'],
  ['0', 'none'],
] as const;
const PREFIX = 'z';

let env: BackupTestEnv;
let source: DatabaseFingerprint;
const keys = new Map<string, string>();

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('app');
  await loadSampleApp(env.pg, 'app');
  source = await fingerprintDatabase(env.pg, 'app');
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

const readEnv = () => ({ ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: PREFIX, PGPASSWORD: env.pg.password });

/** The compression method in the archive's header, as this toolchain's pg_restore -l reports it. */
function headerCompression(archive: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-z-'));
  try {
    writeFileSync(join(dir, 'a.dump'), archive);
    const r = spawnSync(join(env.pg.binDir, 'pg_restore'), ['-l', join(dir, 'a.dump')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`pg_restore -l failed: ${r.stderr}`);
    return /^;\s+Compression: (\S+)/m.exec(r.stdout)?.[1] ?? `(no Compression line in:\n${r.stdout.slice(0, 600)})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.each(CASES)('BACKUP_COMPRESS=%s', (compress, method) => {
  const db = `restored_${compress.replace(/\W/g, '_')}`;

  test(`backup writes a ${method} archive with the 18 client, and the manifest records '${compress}'`, async () => {
    const run = await runCli(['backup'], env.cliEnv('app', PREFIX, { BACKUP_COMPRESS: compress }));
    expectOk(run);
    const key = String(eventOf(run, 'backup.complete').key);
    keys.set(compress, key);
    const manifest = JSON.parse((await env.get(key.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));
    expect(manifest).toMatchObject({ compression: compress, pgDump: { version: expect.stringMatching(/^pg_dump \(PostgreSQL\) 18\./) } });
    expect(headerCompression(await env.get(key))).toBe(method);
  });

  test('verify reads every block, and restore gives content identical to the source', async () => {
    const key = keys.get(compress);
    if (!key) throw new Error('the backup test above failed');
    const verify = await runCli(['verify', '--key', key], readEnv());
    expectOk(verify);
    expect(eventOf(verify, 'verify.ok')).toMatchObject({ key });
    const restore = await runCli(
      ['restore', '--key', key, '--target', `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`],
      readEnv(),
    );
    expectOk(restore);
    expect(diffFingerprints(source, await fingerprintDatabase(env.pg, db))).toEqual([]);
  });
});

// The manifest records the method, and list shows it (issue 12: "list/verify show them").
test('list --json shows each backup’s compression', async () => {
  const run = await runCli(['list', '--dbname', 'app', '--json'], readEnv());
  expectOk(run);
  const rows = JSON.parse(run.stdout) as { key: string; compression?: string }[];
  expect(keys.size).toBe(CASES.length);
  const expected = Object.fromEntries([...keys].map(([compress, key]) => [key, compress]));
  expect(Object.fromEntries(rows.filter((r) => r.key in expected).map((r) => [r.key, r.compression]))).toEqual(expected);
});

/**
 * A pg_restore 18 built without zstd and lz4 (task/dev/build-postgres.sh --without-compression;
 * .ci/run builds it): an archive compressed with a method it lacks is refused by verify and
 * restore before any download, naming the method. gzip it reads.
 */
describe('a pg_restore built without the archive’s compression method', () => {
  const withoutCompression = (): string => {
    const script = join(__dirname, '..', '..', '..', '..', 'task', 'dev', 'build-postgres.sh');
    const bin = spawnSync('bash', [script, '--print', '--without-compression'], { encoding: 'utf8' }).stdout.trim();
    if (!existsSync(join(bin, 'pg_restore')))
      throw new Error(`${bin}/pg_restore is missing: run task/dev/build-postgres.sh --without-compression`);
    return bin;
  };
  const dumpGets = () => env.proxy.seen.filter((r) => r.operation === 'GetObject' && new URL(r.url, 'http://x').pathname.endsWith('.dump'));

  test.each([
    ['zstd', 'verify'],
    ['lz4', 'verify'],
    ['zstd', 'restore'],
  ] as const)('%s archive, %s: exit 3 naming the method, only the header read', async (compress, command) => {
    const key = keys.get(compress);
    if (!key) throw new Error('the backup test above failed');
    env.proxy.clear();
    const target = `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/never_${compress}`;
    const args = command === 'verify' ? ['verify', '--key', key] : ['restore', '--key', key, '--target', target];
    const run = await runCli(args, { ...readEnv(), PG_BIN_DIR: withoutCompression() });
    expect(run.code).toBe(3);
    expect(String(eventOf(run, `${command}.failed`).cause)).toMatch(
      new RegExp(`compressed with ${compress}\\), and this pg_restore .* cannot read it: it was built without ${compress} compression`),
    );
    expect(dumpGets().map((r) => r.headers.range)).toEqual(['bytes=0-4095']);
  });
});

/**
 * BACKUP_COMPRESS unset: zstd:1 with a pg_dump 16+ that has zstd (docs/performance.md's Compression
 * table measured it fastest at an archive no larger than gzip 6's), and pg_dump's own gzip 6
 * with one built without zstd (task/dev/build-postgres.sh --without-compression), which is
 * told apart by a probe before the dump starts instead of failing it.
 */
describe('the default compression', () => {
  test('is zstd:1 with pg_dump 18: the manifest, the log and the archive header say so', async () => {
    const run = await runCli(['backup'], env.cliEnv('app', 'default-z'));
    expectOk(run);
    expect(eventOf(run, 'backup.start')).toMatchObject({ compression: 'zstd:1' });
    const key = String(eventOf(run, 'backup.complete').key);
    const manifest = JSON.parse((await env.get(key.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));
    expect(manifest.compression).toBe('zstd:1');
    expect(headerCompression(await env.get(key))).toBe('zstd');
  });

  test('is pg_dump’s gzip with a pg_dump 18 built without zstd, and the backup still completes', async () => {
    const bin = spawnSync(
      'bash',
      [join(__dirname, '..', '..', '..', '..', 'task', 'dev', 'build-postgres.sh'), '--print', '--without-compression'],
      {
        encoding: 'utf8',
      },
    ).stdout.trim();
    const run = await runCli(['backup'], env.cliEnv('app', 'default-gzip', { PG_BIN_DIR: bin }));
    expectOk(run);
    expect(eventOf(run, 'backup.start')).toMatchObject({ compression: 'default', pgDumpVersion: expect.stringMatching(/18\./) });
    const key = String(eventOf(run, 'backup.complete').key);
    expect(JSON.parse((await env.get(key.replace(/\.dump$/, '.manifest.json'))).toString('utf8')).compression).toBe('default');
    expect(headerCompression(await env.get(key))).toBe('gzip');
  });
});
