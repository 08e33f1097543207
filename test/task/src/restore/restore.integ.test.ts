/**
 * list, verify and restore end to end: real PostgreSQL, real pg_dump/pg_restore, s3rver via
 * the SDK. Corruption is made by rewriting stored objects through the SDK, as a bad disk or
 * an interrupted copy would leave them.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffFingerprints, fingerprintDatabase, loadSampleApp } from '../../../support/postgres/fingerprint';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { CliRun, eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;
let goodKey: string;
const PREFIX = 'rt';

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('app');
  await loadSampleApp(env.pg, 'app');
  const run = await runCli(['backup', '--globals'], env.cliEnv('app', PREFIX));
  if (run.code !== 0) throw new Error(`backup failed:\n${run.stdout}\n${run.stderr}`);
  goodKey = String(eventOf(run, 'backup.complete').key);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

/** Environment for read-side commands: the bucket, no source database variables. */
function readEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: PREFIX, PGPASSWORD: env.pg.password, ...extra };
}

const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;

async function exists(db: string): Promise<boolean> {
  return (await env.pg.psql(`select count(*) from pg_database where datname = '${db}'`)).trim() === '1';
}

/** Copies a backup (the good one unless `from` is given) to a new stem in its folder, with the dump altered by `mutate` (manifest kept as it was). */
async function corruptCopy(stamp: string, mutate: (b: Buffer) => Buffer, from = goodKey): Promise<string> {
  const dump = await env.get(from);
  const manifest = (await env.get(from.replace(/\.dump$/, '.manifest.json'))).toString('utf8');
  const key = `${from.split('/').slice(0, -1).join('/')}/${stamp}.dump`;
  await env.client.send(
    new (await import('@aws-sdk/client-s3')).PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: mutate(Buffer.from(dump)) }),
  );
  await env.put(key.replace(/\.dump$/, '.manifest.json'), manifest.replace(JSON.stringify(from), JSON.stringify(key)));
  return key;
}

function expectIntegrityFailure(run: CliRun, event: string, pattern: RegExp): void {
  expect(run.code).toBe(5);
  expect(String(eventOf(run, event).cause)).toMatch(pattern);
}

describe('list', () => {
  test('lists backups newest first and marks a dump without manifest incomplete', async () => {
    await env.put(`${PREFIX}/app/209901010000.dump`, 'a dump whose manifest never came');
    const run = await runCli(['list', '--dbname', 'app', '--json'], readEnv());
    expect(run.code).toBe(0);
    const rows = JSON.parse(run.stdout) as { key: string }[];
    expect(rows[0]).toMatchObject({ key: `${PREFIX}/app/209901010000.dump`, complete: false, status: 'no manifest' });
    const good = rows.find((r) => r.key === goodKey);
    expect(good).toMatchObject({
      complete: true,
      status: 'complete',
      bytes: expect.any(Number),
      tier: expect.stringMatching(/daily|weekly|monthly/),
      globalsKey: expect.stringMatching(/\.globals\.sql$/),
    });
    const text = await runCli(['list', '--dbname', 'app', '--log-format', 'text'], readEnv());
    expect(text.stdout).toMatch(/KEY\s+STARTED \(UTC\)\s+SIZE\s+TIER\s+COMPRESSION\s+STATUS/);
    expect(text.stdout).toMatch(/209901010000\.dump .*INCOMPLETE: no manifest/);
  });
});

describe('verify', () => {
  test('--latest skips a newer dump whose manifest is missing, and passes the good backup', async () => {
    // 209901010000.dump (no manifest) from the list test is newer than the good backup.
    const run = await runCli(['verify', '--latest', '--dbname', 'app'], readEnv());
    expect(run.code).toBe(0);
    expect(eventOf(run, 'verify.ok')).toMatchObject({ key: goodKey });
    expect(eventOf(run, 'metrics')).toMatchObject({ DrillSuccess: 1, DrillFailure: 0, Database: 'app' });
  });

  test('a dump without manifest is refused by --key', async () => {
    const run = await runCli(['verify', '--key', `${PREFIX}/app/209901010000.dump`], readEnv());
    expectIntegrityFailure(run, 'verify.failed', /has no manifest: that backup never completed/);
  });

  test('a flipped byte is caught by the SHA-256 check', async () => {
    const key = await corruptCopy('200001010000', (b) => {
      b[Math.floor(b.length / 2)] ^= 0xff;
      return b;
    });
    const run = await runCli(['verify', '--key', key], readEnv());
    expectIntegrityFailure(run, 'verify.failed', /SHA-256: read [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
    expect(eventOf(run, 'metrics')).toMatchObject({ DrillSuccess: 0, DrillFailure: 1 });
  });

  test('a truncated object is caught by size, digest and the full pg_restore read', async () => {
    const key = await corruptCopy('200001010001', (b) => b.subarray(0, Math.floor(b.length * 0.6)));
    const run = await runCli(['verify', '--key', key], readEnv());
    expectIntegrityFailure(
      run,
      'verify.failed',
      /size: read \d+ bytes .*the manifest says \d+.*SHA-256.*pg_restore could not read the whole archive/s,
    );
  });

  test('--restore-into restores into a scratch database and reports what it restored', async () => {
    const run = await runCli(['verify', '--latest', '--dbname', 'app'], readEnv({ VERIFY_RESTORE_INTO_URL: target('drill_scratch') }));
    expect(run.code).toBe(0);
    const ok = eventOf(run, 'verify.ok');
    const source = await env.pg.psql(
      "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'",
      { database: 'app' },
    );
    expect(ok.tables).toBe(Number(source.trim()));
    expect(ok.rows).toBeGreaterThan(0);
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'app'), await fingerprintDatabase(env.pg, 'drill_scratch'))).toEqual([]);
  });
});

describe('restore', () => {
  test('--latest into a new database gives content identical to the source', async () => {
    const run = await runCli(['restore', '--latest', '--dbname', 'app', '--target', target('restored_plain')], readEnv());
    expect(run.code).toBe(0);
    expect(eventOf(run, 'restore.complete')).toMatchObject({
      key: goodKey,
      createdDatabase: true,
      tables: expect.any(Number),
      rows: expect.any(Number),
    });
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'app'), await fingerprintDatabase(env.pg, 'restored_plain'))).toEqual([]);
  });

  test('--jobs 2 gives the same content as a plain restore', async () => {
    const run = await runCli(['restore', '--key', goodKey, '--jobs', '2', '--target', target('restored_jobs')], readEnv());
    expect(run.code).toBe(0);
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'app'), await fingerprintDatabase(env.pg, 'restored_jobs'))).toEqual([]);
  });

  test('a non-empty target is refused without --clean, and replaced with it', async () => {
    await env.pg.createDatabase('busy');
    await env.pg.psql('create table keep_me (x int); insert into keep_me values (42);', { database: 'busy' });
    const refused = await runCli(['restore', '--key', goodKey, '--target', target('busy')], readEnv());
    expect(refused.code).toBe(2);
    expect(String(eventOf(refused, 'restore.failed').cause)).toMatch(/already holds 1 tables.*--clean/s);
    expect((await env.pg.psql('select x from keep_me', { database: 'busy' })).trim()).toBe('42');

    const cleaned = await runCli(['restore', '--key', goodKey, '--target', target('busy'), '--clean'], readEnv());
    expect(cleaned.code).toBe(0);
    // --clean drops what the backup contains; objects only in the target stay.
    expect((await env.pg.psql('select x from keep_me', { database: 'busy' })).trim()).toBe('42');
  });

  test('a corrupt or truncated backup fails and leaves an existing target exactly as it was', async () => {
    await env.pg.createDatabase('untouched');
    const before = await fingerprintDatabase(env.pg, 'untouched');
    for (const [stamp, mutate] of [
      ['200001010002', (b: Buffer) => b.subarray(0, b.length - 1000)],
      ['200001010003', (b: Buffer) => ((b[b.length - 50] ^= 0x01), b)],
    ] as const) {
      const key = await corruptCopy(stamp, mutate);
      const run = await runCli(['restore', '--key', key, '--target', target('untouched')], readEnv());
      expectIntegrityFailure(run, 'restore.failed', /failed verification/);
      expect(String(eventOf(run, 'restore.target').msg)).toMatch(/one transaction, never committed: 'untouched' is as it was/);
    }
    expect(diffFingerprints(before, await fingerprintDatabase(env.pg, 'untouched'))).toEqual([]);
  });

  test('a corrupt backup never creates the target database', async () => {
    const key = await corruptCopy('200001010004', (b) => ((b[100] ^= 0x10), b));
    const run = await runCli(['restore', '--key', key, '--jobs', '2', '--target', target('never_created')], readEnv());
    expect(run.code).toBe(5);
    expect(await exists('never_created')).toBe(false);
  });

  test('a single-job restore of a backup damaged in its table of contents: exit 5 with the mismatch, no database left', async () => {
    // Streaming, the table of contents is read before any byte is checked: a damaged one must
    // still read as a damaged backup (pick another), not as a database error.
    const key = await corruptCopy('200001010005', (b) => ((b[100] ^= 0x10), b));
    const run = await runCli(['restore', '--key', key, '--target', target('never_created_single')], readEnv());
    expectIntegrityFailure(run, 'restore.failed', /failed verification:[\s\S]*SHA-256: read/);
    expect(await exists('never_created_single')).toBe(false);
  });

  test('a restore that fails inside pg_restore drops the database it created', async () => {
    // A backup that passes every check but cannot be applied: its archive needs a role the
    // target lacks. Restoring ownership (no --no-owner) into a server without that role fails.
    await env.pg.psql('create role app_owner_gone; create database owned_src owner app_owner_gone;');
    await env.pg.psql('set role app_owner_gone; create table t (x int); insert into t values (1);', { database: 'owned_src' });
    const backup = await runCli(['backup'], env.cliEnv('owned_src', PREFIX));
    expect(backup.code).toBe(0);
    await env.pg.psql('drop database owned_src; drop role app_owner_gone;');
    const run = await runCli(['restore', '--latest', '--dbname', 'owned_src', '--target', target('owned_dst')], readEnv());
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'restore.failed').cause)).toMatch(/pg_restore exited with code 1: .*role "app_owner_gone" does not exist/s);
    expect(eventOf(run, 'restore.rollback').msg).toMatch(/Dropped the database 'owned_dst'/);
    expect(await exists('owned_dst')).toBe(false);
    // And with --no-owner the same backup restores.
    const ok = await runCli(['restore', '--latest', '--dbname', 'owned_src', '--no-owner', '--target', target('owned_dst')], readEnv());
    expect(ok.code).toBe(0);
    expect((await env.pg.psql('select x from t', { database: 'owned_dst' })).trim()).toBe('1');
  });

  test('--globals applies the stored roles before restoring', async () => {
    const manifest = JSON.parse((await env.get(goodKey.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));
    const globals = await env.get(manifest.globals.key);
    expect(createHash('sha256').update(globals).digest('hex')).toBe(manifest.globals.sha256);
    const run = await runCli(['restore', '--key', goodKey, '--globals', '--target', target('restored_globals')], readEnv());
    expect(run.code).toBe(0);
    expect(run.events.filter((e) => e.event === 'restore.globals').map((e) => e.msg)).toEqual(
      expect.arrayContaining([expect.stringMatching(/Applied roles and tablespaces/)]),
    );
  });

  test('a password in --target is refused before anything connects; the variable is the way', async () => {
    const withPassword = `postgres://${env.pg.user}:${env.pg.password}@127.0.0.1:${env.pg.port}/x`;
    const run = await runCli(['restore', '--latest', '--dbname', 'app', '--target', withPassword], readEnv());
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/--target holds a password.*RESTORE_TARGET_URL/s);
    expect(run.stdout + run.stderr).not.toContain(env.pg.password);
  });
});

describe('a single-job restore is one pass from storage, and commits only what matched the manifest', () => {
  // An uncompressed archive (BACKUP_COMPRESS=0): a changed byte in its table data is still a
  // valid archive and valid SQL, so pg_restore reads it and psql applies it without complaint.
  // Only the size and SHA-256, checked before the COMMIT is sent, can stop it.
  const MARKER = 'gate-marker-0000';
  let plainKey: string;
  let plainBytes: number;
  const gateTables = "select count(*) from pg_tables where schemaname = 'public'";

  beforeAll(async () => {
    await env.pg.createDatabase('gate_src');
    await env.pg.psql(
      `create table notes (id int primary key, body text);
       insert into notes select g, repeat('x', 40) || g from generate_series(1, 20000) g;
       insert into notes values (0, '${MARKER}');
       create table lines (l text); insert into lines values ('COMMIT;'), ('after');`,
      { database: 'gate_src' },
    );
    const run = await runCli(['backup'], env.cliEnv('gate_src', PREFIX, { BACKUP_COMPRESS: '0' }));
    if (run.code !== 0) throw new Error(`backup failed:\n${run.stdout}\n${run.stderr}`);
    plainKey = String(eventOf(run, 'backup.complete').key);
    plainBytes = Number(eventOf(run, 'backup.complete').bytes);
  });

  test('it restores what the source holds, a data line "COMMIT;" included, and says it streamed', async () => {
    const run = await runCli(['restore', '--key', plainKey, '--target', target('gate_ok')], readEnv());
    expect(run.code).toBe(0);
    expect(eventOf(run, 'restore.start').msg).toMatch(/in one transaction, streamed from storage/);
    expect(run.events.some((e) => e.event === 'restore.download')).toBe(false);
    expect(diffFingerprints(await fingerprintDatabase(env.pg, 'gate_src'), await fingerprintDatabase(env.pg, 'gate_ok'))).toEqual([]);
    expect(await env.pg.psql("select string_agg(l, ',' order by l) from lines", { database: 'gate_ok' })).toMatch(/^COMMIT;,after$/m);
  });

  const changedByte = (b: Buffer) => {
    const at = b.indexOf(MARKER);
    if (at < 0) throw new Error('marker not in the uncompressed archive');
    b.write('gate-marker-6666', at);
    return b;
  };
  const appended = (b: Buffer) => Buffer.concat([b, Buffer.from('\n-- more bytes than the manifest counted\n')]);

  test.each([
    ['a changed byte in the table data', '200001010020', changedByte, /SHA-256: read [0-9a-f]{64}/],
    ['bytes after the end of the archive', '200001010021', appended, /size: read \d+ bytes/],
  ] as const)(
    '%s: pg_restore reads it without complaint, the gate never commits it (exit 5, targets as they were)',
    async (_what, stamp, mutate, why) => {
      const key = await corruptCopy(stamp, mutate, plainKey);
      await env.pg.createDatabase(`gate_existing_${stamp}`);
      const before = await fingerprintDatabase(env.pg, `gate_existing_${stamp}`);
      for (const [db, existed] of [
        [`gate_existing_${stamp}`, true],
        [`gate_new_${stamp}`, false],
      ] as const) {
        const run = await runCli(['restore', '--key', key, '--target', target(db)], readEnv());
        expectIntegrityFailure(run, 'restore.failed', why);
        // The whole script applied cleanly: neither pg_restore nor psql is among the causes.
        expect(String(eventOf(run, 'restore.failed').cause)).not.toMatch(/pg_restore|psql/);
        expect(run.events.some((e) => e.event === 'restore.verified')).toBe(false);
        if (existed) {
          expect(String(eventOf(run, 'restore.target').msg)).toMatch(new RegExp(`never committed: '${db}' is as it was`));
          expect((await env.pg.psql(gateTables, { database: db })).trim()).toBe('0');
        } else {
          expect(eventOf(run, 'restore.rollback').msg).toMatch(new RegExp(`Dropped the database '${db}'`));
          expect(await exists(db)).toBe(false);
        }
      }
      expect(diffFingerprints(before, await fingerprintDatabase(env.pg, `gate_existing_${stamp}`))).toEqual([]);
    },
  );

  test('a transfer that breaks mid-body: exit 4, nothing committed', async () => {
    // Stands in for a connection to S3 that drops during the download (s3rver does not). Every
    // whole-object GET is cut at 60 %: the restore's one pass fails; its table-of-contents reads,
    // which stop after a few kilobytes, and the header probe (a ranged GET) do not notice.
    env.proxy.clear();
    env.proxy.addRule((req) =>
      req.operation === 'GetObject' && req.url.includes(plainKey.split('/').pop()!) && !req.headers.range
        ? { kind: 'forward', cutAfterBytes: Math.floor(plainBytes * 0.6) }
        : undefined,
    );
    try {
      await env.pg.createDatabase('gate_cut');
      const run = await runCli(['restore', '--key', plainKey, '--target', target('gate_cut')], readEnv());
      expect(run.code).toBe(4);
      expect(String(eventOf(run, 'restore.failed').cause)).toMatch(/Reading .* failed/);
      expect(String(eventOf(run, 'restore.target').msg)).toMatch(/never committed: 'gate_cut' is as it was/);
      expect((await env.pg.psql(gateTables, { database: 'gate_cut' })).trim()).toBe('0');
    } finally {
      env.proxy.clear();
    }
  });
});

describe('no PostgreSQL client ever prompts', () => {
  test('a target that needs a password, given none: exit 3 that says what to set (not a prompt fed with SQL)', async () => {
    // Without --no-password, psql would read its SQL from stdin as the password and report "password authentication failed".
    const { PGPASSWORD, ...noPassword } = readEnv();
    void PGPASSWORD;
    const run = await runCli(['restore', '--key', goodKey, '--target', target('needs_password')], noPassword, { timeoutMs: 60_000 });
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'restore.failed').cause)).toMatch(/asks for a password and none was given: set PGPASSWORD/);
    expect(run.stdout).not.toMatch(/password authentication failed/);
    expect(await exists('needs_password')).toBe(false);
  });

  test('a backup with no password: exit 3 that says what to set', async () => {
    const { PGPASSWORD, ...noPassword } = env.cliEnv('app', 'nopassword');
    void PGPASSWORD;
    const run = await runCli(['backup'], noPassword, { timeoutMs: 60_000 });
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'backup.failed').cause)).toMatch(/asks for a password and none was given: set PGPASSWORD/);
  });
});

describe('what the operator sees', () => {
  test('a target URL without a password is shown as given (postgres://user@host:port/db), not masked', async () => {
    // GIVEN the password in a PGPASSFILE, so that the URL and the environment hold none
    const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-pass-'));
    const passfile = join(dir, 'pgpass');
    writeFileSync(passfile, `127.0.0.1:${env.pg.port}:*:${env.pg.user}:${env.pg.password}\n`, { mode: 0o600 });
    const url = target('shown_target');
    const { PGPASSWORD, ...rest } = readEnv();
    void PGPASSWORD;
    try {
      // WHEN
      const run = await runCli(['restore', '--key', goodKey, '--target', url], { ...rest, PGPASSFILE: passfile });
      // THEN
      expect(run.code).toBe(0);
      expect(eventOf(run, 'restore.complete').target).toBe(url);
      expect(String(eventOf(run, 'restore.begin').msg)).toContain(url);
      expect(run.stdout).not.toContain('***');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an archive this pg_restore cannot read is refused before any download', () => {
  // A header claiming a format no pg_restore knows yet (1.99), as an archive of a future release
  // would: the same refusal as pg_restore 15 gives an 18 archive (test/task/src/postgres/versions.pg18.integ.test.ts
  // covers that real pair with the 18 toolchain), on every toolchain.
  const newerFormat = (b: Buffer) => {
    const copy = Buffer.from(b);
    copy[6] = 99; // format 1.99
    copy[11] = 3; // from 1.15 on, the compression byte: zstd
    return copy;
  };

  test.each(['verify', 'restore'] as const)(
    '%s: exit 3 naming the archive format, both versions and the fix; only the header was read',
    async (command) => {
      const key = await corruptCopy('200001010009', newerFormat);
      env.proxy.clear();
      const args = command === 'verify' ? ['verify', '--key', key] : ['restore', '--key', key, '--target', target('never_newer')];
      const run = await runCli(args, readEnv());
      expect(run.code).toBe(3);
      expect(String(eventOf(run, `${command}.failed`).cause)).toMatch(
        /was written by pg_dump \(PostgreSQL\) [\d.]+.*\(archive format 1\.99, compressed with zstd\), and this pg_restore \(pg_restore \(PostgreSQL\) \d+[\d.]+.*\) cannot read it: it does not know archive format 1\.99.*unsupported version \(1\.99\) in file header.*PG_BIN_DIR/,
      );
      const dumpGets = env.proxy.seen.filter((r) => r.operation === 'GetObject' && new URL(r.url, 'http://x').pathname.endsWith('.dump'));
      expect(dumpGets.map((r) => r.headers.range)).toEqual(['bytes=0-4095']);
      expect(await exists('never_newer')).toBe(false);
    },
  );
});
