/**
 * The backup command end to end: the bundled CLI, a throwaway PostgreSQL cluster, the real
 * pg_dump and pg_restore, and s3rver through the AWS SDK. A fault-injecting proxy sits in
 * front of s3rver; where it stands in for AWS behaviour s3rver lacks, the test says so.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffFingerprints, fingerprintDatabase, loadSampleApp } from '../../../support/postgres/fingerprint';
import { timestampOf } from '../../../../task/src/contract/key';
import { BackupTestEnv, createBulkDatabase, startBackupTestEnv } from '../../../support/backup-env';
import { childPids, CliRun, eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('app');
  await loadSampleApp(env.pg, 'app');
  await createBulkDatabase(env.pg, 'bulk', 60);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

beforeEach(() => env.proxy.clear());

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Keys that look like backup objects (dump, manifest, globals) under a prefix. */
async function backupObjects(prefix: string): Promise<string[]> {
  return (await env.keys(prefix)).filter((k) => /\.(dump|manifest\.json|globals\.sql)$/.test(k));
}

/** Resolves once the proxy has seen `count` requests of an operation. */
async function waitFor(op: Parameters<BackupTestEnv['proxy']['count']>[0], count = 1, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (env.proxy.count(op) < count) {
    if (Date.now() > until) throw new Error(`no ${op} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectFailure(run: CliRun, code: number, stage: string, cause: RegExp): void {
  const failed = eventOf(run, 'backup.failed');
  expect({ code: run.code, stage: failed.stage }).toEqual({ code, stage });
  expect(String(failed.cause)).toMatch(cause);
  const metric = run.events.find((e) => e.event === 'metrics');
  expect(metric).toMatchObject({ BackupSuccess: 0, BackupFailure: 1, Database: expect.any(String) });
}

describe('backup: round trip', () => {
  test('the stored archive restores to content identical to the source, with a manifest that describes it', async () => {
    // GIVEN a realistic application database
    const prefix = 'roundtrip';
    // WHEN it is backed up
    const run = await runCli(['backup'], env.cliEnv('app', prefix, { BACKUP_PROJECT: 'shop' }));
    // THEN there is exactly one dump and one manifest
    expect(run.code).toBe(0);
    const objects = await backupObjects(prefix);
    expect(objects).toHaveLength(2);
    const dumpKey = objects.find((k) => k.endsWith('.dump'))!;
    expect(dumpKey).toMatch(/^roundtrip\/app\/\d{12}\.dump$/);
    const manifestKey = dumpKey.replace(/\.dump$/, '.manifest.json');
    expect(objects).toContain(manifestKey);

    const archive = await env.get(dumpKey);
    const manifest = JSON.parse((await env.get(manifestKey)).toString('utf8'));
    expect(manifest).toMatchObject({
      format: 'pg-s3-backup.manifest.v1',
      database: 'app',
      key: dumpKey,
      bytes: archive.length,
      sha256: sha256(archive),
      archiveFormat: 'custom',
      // Unset BACKUP_COMPRESS: zstd:1 with pg_dump 16+ (this toolchain's 18), pg_dump's own gzip before.
      compression: Number(process.env.TEST_PG_MAJOR) >= 16 ? 'zstd:1' : 'default',
      server: { version: expect.stringMatching(/^\d+\.\d+/), versionNum: expect.any(Number) },
      pgDump: { version: expect.stringMatching(/pg_dump \(PostgreSQL\) \d+/) },
      tool: { name: 'pg-s3-backup' },
    });
    expect(Date.parse(manifest.finishedAt)).toBeGreaterThanOrEqual(Date.parse(manifest.startedAt));

    // The log tells the story: start with versions, completion with key, size, digest; metrics.
    expect(eventOf(run, 'backup.start')).toMatchObject({
      database: 'app',
      key: dumpKey,
      serverVersion: manifest.server.version,
      pgDumpVersion: manifest.pgDump.version,
    });
    expect(eventOf(run, 'backup.complete')).toMatchObject({ key: dumpKey, bytes: archive.length, sha256: manifest.sha256 });
    expect(eventOf(run, 'metrics')).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'PgS3Backup', Dimensions: [['Project', 'Database']] }] },
      Project: 'shop',
      Database: 'app',
      BackupSuccess: 1,
      BackupFailure: 0,
      BackupBytes: archive.length,
    });

    // Objects are created conditionally and tagged at creation (s3rver ignores both; the proxy sees them).
    const writes = env.proxy.seen.filter((r) => r.operation === 'PutObject' || r.operation === 'CreateMultipartUpload');
    expect(writes.length).toBeGreaterThanOrEqual(2);
    for (const w of writes) expect(w.headers).toMatchObject({ 'x-amz-tagging': expect.stringMatching(/^tier=(daily|weekly|monthly)$/) });
    for (const w of env.proxy.seen.filter((r) => r.operation === 'PutObject')) expect(w.headers['if-none-match']).toBe('*');

    // AND plain pg_restore gives back the same content, table by table.
    env.restoreInto(archive, 'app_restored');
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'app'), await fingerprintDatabase(env.pg, 'app_restored'))).toEqual([]);
  });

  test('DATABASE_URL works, --globals stores roles beside the dump, and the manifest names them', async () => {
    const prefix = 'globals';
    const { PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...rest } = env.cliEnv('app', prefix);
    void [PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE];
    const run = await runCli(['backup', '--globals'], { ...rest, DATABASE_URL: env.pg.url('app') + '?sslmode=disable' });
    expect(run.code).toBe(0);
    const objects = await backupObjects(prefix);
    expect(objects).toHaveLength(3);
    const globalsKey = objects.find((k) => k.endsWith('.globals.sql'))!;
    const globals = await env.get(globalsKey);
    expect(globals.toString('utf8')).toMatch(/CREATE ROLE/);
    const manifest = JSON.parse((await env.get(objects.find((k) => k.endsWith('.manifest.json'))!)).toString('utf8'));
    expect(manifest.globals).toEqual({ key: globalsKey, bytes: globals.length, sha256: sha256(globals), noRolePasswords: false });
  });

  test('two backups in the same minute both survive: an existing key is never overwritten', async () => {
    // GIVEN objects already at this minute's and the next minute's key (so the test holds across a minute boundary)
    const prefix = 'sameminute';
    const now = new Date();
    const stamps = [timestampOf(now), timestampOf(new Date(now.getTime() + 60_000))];
    for (const s of stamps) await env.put(`${prefix}/app/${s}.dump`, `earlier backup ${s}`);
    // WHEN a backup runs
    const run = await runCli(['backup'], env.cliEnv('app', prefix));
    // THEN it took a -2 key and the earlier objects are untouched
    expect(run.code).toBe(0);
    const key = String(eventOf(run, 'backup.complete').key);
    expect(key).toMatch(new RegExp(`^${prefix}/app/(${stamps.join('|')})-2\\.dump$`));
    for (const s of stamps) expect((await env.get(`${prefix}/app/${s}.dump`)).toString()).toBe(`earlier backup ${s}`);
  });

  test('multipart uploads survive transient 500s and dropped connections, and the stored bytes are exact', async () => {
    // s3rver never fails; the proxy injects what S3 does under load: 500 InternalError,
    // 503 SlowDown, and a reset connection, each once, on different parts.
    const prefix = 'transient';
    const failed = new Set<number>();
    env.proxy.addRule((req, n) => {
      if (req.operation !== 'UploadPart' || failed.has(n) || ![2, 4, 5].includes(n)) return undefined;
      failed.add(n);
      if (n === 2) return { kind: 'respond', status: 500 };
      if (n === 4)
        return { kind: 'respond', status: 503, body: '<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>' };
      return { kind: 'reset' };
    });
    const run = await runCli(['backup', '--part-size-mib', '5', '--compress', '0'], env.cliEnv('bulk', prefix));
    expect(run.code).toBe(0);
    expect(failed.size).toBe(3);
    const key = String(eventOf(run, 'backup.complete').key);
    const archive = await env.get(key);
    const manifest = JSON.parse((await env.get(key.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));
    expect(archive.length).toBe(manifest.bytes);
    expect(sha256(archive)).toBe(manifest.sha256);
    expect(env.proxy.count('UploadPart')).toBeGreaterThan(Math.ceil(archive.length / (5 * 1024 * 1024)));
    // Every part carried an S3 additional checksum for the store to verify.
    for (const part of env.proxy.seen.filter((r) => r.operation === 'UploadPart'))
      expect(part.headers['x-amz-checksum-sha256']).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });
});

describe('backup: complete or nothing', () => {
  test('backend terminated mid-dump: exit 3 with pg_dump’s error, nothing at the key, even though s3rver refuses the abort', async () => {
    const prefix = 'terminated';
    const running = runCli(['backup', '--part-size-mib', '5', '--compress', '0'], env.cliEnv('bulk', prefix));
    await waitFor('UploadPart');
    await env.pg.psql(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'pg-s3-backup' and datname = 'bulk'",
    );
    const run = await running;
    // libpq words it by where pg_dump was (reading a result, or blocked writing to us).
    expectFailure(
      run,
      3,
      'dump',
      /pg_dump exited with code 1: .*(terminating connection due to administrator command|server closed the connection unexpectedly).*COPY public\.bulk/s,
    );
    // s3rver answers AbortMultipartUpload with 405: that is logged, but never replaces the cause.
    expect(eventOf(run, 'backup.abort-failed').msg).toMatch(/MethodNotAllowed|not allowed/);
    expect(env.proxy.count('CompleteMultipartUpload')).toBe(0);
    expect(await backupObjects(prefix)).toEqual([]);
  });

  test('pg_dump killed: exit 3, the multipart upload is aborted and nothing is at the key', async () => {
    // The proxy answers AbortMultipartUpload with 204, as AWS does (s3rver answers 405).
    env.proxy.addRule((req) => (req.operation === 'AbortMultipartUpload' ? { kind: 'respond', status: 204, body: '' } : undefined));
    const prefix = 'killed';
    let cli = 0;
    const running = runCli(['backup', '--part-size-mib', '5', '--compress', '0'], env.cliEnv('bulk', prefix), {
      onStart: (pid) => (cli = pid),
    });
    await waitFor('UploadPart');
    const [pgDump] = childPids(cli, 'pg_dump');
    expect(pgDump).toBeGreaterThan(0);
    process.kill(pgDump, 'SIGKILL');
    const run = await running;
    expectFailure(run, 3, 'dump', /pg_dump was killed by SIGKILL/);
    expect(env.proxy.count('AbortMultipartUpload')).toBe(1);
    expect(env.proxy.count('CompleteMultipartUpload')).toBe(0);
    expect(run.events.some((e) => e.event === 'backup.abort-failed')).toBe(false);
    expect(await backupObjects(prefix)).toEqual([]);
  });

  test('SIGTERM mid-run stops pg_dump, aborts, and exits 130 within seconds', async () => {
    const prefix = 'sigterm';
    let cli = 0;
    const running = runCli(['backup', '--part-size-mib', '5', '--compress', '0'], env.cliEnv('bulk', prefix), {
      onStart: (pid) => (cli = pid),
    });
    await waitFor('UploadPart');
    const pgDump = childPids(cli, 'pg_dump');
    expect(pgDump).toHaveLength(1);
    const signalled = Date.now();
    process.kill(cli, 'SIGTERM');
    const run = await running;
    expect(Date.now() - signalled).toBeLessThan(15_000);
    expectFailure(run, 130, 'dump', /Interrupted by SIGTERM/);
    expect(() => process.kill(pgDump[0], 0)).toThrow(); // pg_dump is gone
    expect(env.proxy.count('CompleteMultipartUpload')).toBe(0);
    expect(await backupObjects(prefix)).toEqual([]);
  });

  test('storage failing for good during the upload: exit 4 in bounded time, pg_dump stopped, nothing at the key', async () => {
    const prefix = 'storage-down';
    env.proxy.addRule((req) => (req.operation === 'UploadPart' ? { kind: 'respond', status: 500 } : undefined));
    const run = await runCli(['backup', '--part-size-mib', '5', '--compress', '0', '--s3-max-attempts', '3'], env.cliEnv('bulk', prefix));
    expectFailure(run, 4, 'upload', /Uploading the dump \(UploadPart\) failed .*HTTP 500/s);
    expect(env.proxy.count('CompleteMultipartUpload')).toBe(0);
    expect(await backupObjects(prefix)).toEqual([]);
  });

  test('storage unreachable: exit 4 before pg_dump starts, naming the endpoint', async () => {
    const closed = 'http://127.0.0.1:9'; // discard port: nothing listens on loopback
    const run = await runCli(['backup', '--s3-max-attempts', '2'], { ...env.cliEnv('app', 'unreachable'), S3_ENDPOINT: closed });
    expectFailure(run, 4, 'plan', /http:\/\/127\.0\.0\.1:9.*could not be reached/s);
    expect(run.events.some((e) => e.event === 'backup.start')).toBe(false);
  });

  test('a key taken by another writer while the upload ran: S3 refuses to complete (412), nothing is overwritten, exit 4', async () => {
    // The proxy answers CompleteMultipartUpload with 412, as S3 does for `If-None-Match: *`
    // when the key exists by then (s3rver ignores the header). It also lets us see the header.
    env.proxy.addRule((req) =>
      req.operation === 'CompleteMultipartUpload'
        ? {
            kind: 'respond',
            status: 412,
            body: '<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
          }
        : undefined,
    );
    const prefix = 'taken';
    const run = await runCli(['backup', '--part-size-mib', '5', '--compress', '0'], env.cliEnv('bulk', prefix));
    expectFailure(run, 4, 'upload', /\[HTTP 412\].*Another writer created an object at this key.*Run the backup again/s);
    const completes = env.proxy.seen.filter((r) => r.operation === 'CompleteMultipartUpload');
    expect(completes.length).toBeGreaterThanOrEqual(1);
    for (const c of completes) expect(c.headers['if-none-match']).toBe('*');
    expect(env.proxy.count('AbortMultipartUpload')).toBe(1);
    expect(await backupObjects(prefix)).toEqual([]);
  });

  test('a stored size that differs from the bytes read: exit 5 and no manifest, so the backup is not complete', async () => {
    // s3rver stores faithfully; the proxy makes the size check's listing report one byte more.
    const prefix = 'size-mismatch';
    env.proxy.addRule((req) =>
      req.operation === 'ListObjectsV2' && decodeURIComponent(req.url).includes('.dump')
        ? { kind: 'forward', rewriteBody: (xml) => xml.replace(/<Size>(\d+)<\/Size>/, (_, n) => `<Size>${Number(n) + 1}</Size>`) }
        : undefined,
    );
    const run = await runCli(['backup'], env.cliEnv('app', prefix));
    expectFailure(run, 5, 'size-check', /has \d+ bytes but \d+ bytes were read from pg_dump/);
    expect((await backupObjects(prefix)).filter((k) => k.endsWith('.manifest.json'))).toEqual([]);
  });
});

describe('backup: bad input and secrets', () => {
  test('wrong password: exit 3 naming the authentication failure; the password appears nowhere', async () => {
    const password = 'Wr0ng-Passw0rd-XYZ';
    const run = await runCli(['backup'], env.cliEnv('app', 'wrongpw', { PGPASSWORD: password }));
    expectFailure(run, 3, 'connect', /password authentication failed for user/);
    expect(run.stdout + run.stderr).not.toContain(password);
    expect(env.proxy.seen).toEqual([]);
  });

  test('the password never appears in any child’s argv (/proc/*/cmdline) or the output', async () => {
    const password = env.pg.password;
    const cmdlines: string[] = [];
    let cli = 0;
    const { PGPASSWORD, PGHOST, PGPORT, PGUSER, PGDATABASE, ...rest } = env.cliEnv('bulk', 'argv');
    void [PGPASSWORD, PGHOST, PGPORT, PGUSER, PGDATABASE];
    const running = runCli(
      ['backup', '--part-size-mib', '5', '--compress', '0'],
      { ...rest, DATABASE_URL: env.pg.url('bulk') },
      { onStart: (pid) => (cli = pid) },
    );
    const sampler = setInterval(() => {
      for (const name of ['pg_dump', 'psql', 'pg_dumpall']) {
        for (const pid of childPids(cli, name)) {
          try {
            cmdlines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
          } catch {
            // exited meanwhile
          }
        }
      }
    }, 5);
    const run = await running;
    clearInterval(sampler);
    expect(run.code).toBe(0);
    expect(cmdlines.some((c) => c.includes('--format=custom'))).toBe(true);
    for (const c of cmdlines) expect(c).not.toContain(password);
    expect(run.stdout + run.stderr).not.toContain(password);
    expect(String(eventOf(run, 'backup.check').msg)).toMatch(/postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
  });

  test('missing configuration: exit 2 listing every problem, before anything connects', async () => {
    const run = await runCli(['backup', '--queue-size', 'many'], { S3_ENDPOINT: env.endpoint });
    expect(run.code).toBe(2);
    const invalid = eventOf(run, 'config.invalid');
    expect(invalid.problems).toEqual([
      expect.stringMatching(/--queue-size must be a whole number/),
      expect.stringMatching(/BACKUP_BUCKET \(or --bucket\) is required/),
      expect.stringMatching(/No database name/),
    ]);
    expect(env.proxy.seen).toEqual([]);
  });

  test('pg_dump older than the server: exit 3 before dumping, naming both versions and the fix', async () => {
    // GIVEN a client directory whose pg_dump reports major version 9.6 (a stand-in for an old client)
    const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-oldclient-'));
    try {
      writeFileSync(
        join(dir, 'pg_dump'),
        '#!/bin/sh\n[ "$1" = "--version" ] && { echo "pg_dump (PostgreSQL) 9.6.24"; exit 0; }\necho "should not dump" >&2; exit 99\n',
      );
      chmodSync(join(dir, 'pg_dump'), 0o755);
      symlinkSync(join(env.pg.binDir, 'psql'), join(dir, 'psql'));
      // WHEN a backup runs with it
      const run = await runCli(['backup', '--pg-bin-dir', dir], env.cliEnv('app', 'oldclient'));
      // THEN it stops at the version check
      expectFailure(
        run,
        3,
        'version-check',
        /pg_dump 9\.6 \(pg_dump \(PostgreSQL\) 9\.6\.24\) is older than the server \(PostgreSQL \d+.*postgresql-client-\d+ or newer/s,
      );
      expect(env.proxy.seen).toEqual([]);
      expect(await backupObjects('oldclient')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
