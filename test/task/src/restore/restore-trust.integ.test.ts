/**
 * The restore path trusts nothing it reads from the bucket (issue 23): a restore and the drill
 * run with the target server's highest privileges, and whatever they read back may have been
 * chosen by a database owner (a comment, a setting) or planted by whoever can create objects in a
 * database's folder (a compromised backup task). Real PostgreSQL, real pg_dump/pg_restore/psql,
 * s3rver through the SDK; planted objects are written the way such a writer would write them.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readTableOfContents } from '../../../../task/src/archive/toc';
import { databaseFolder, timestampOf } from '../../../../task/src/contract';
import { BackupTestEnv, createBulkDatabase, startBackupTestEnv } from '../../../support/backup-env';
import { childPids, eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;
const PREFIX = 'trust';

beforeAll(async () => {
  env = await startBackupTestEnv();
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

/** Environment for read-side commands: the bucket, no source database variables. */
function readEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  return { ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: PREFIX, PGPASSWORD: env.pg.password, ...extra };
}

const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${encodeURIComponent(db)}`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

async function exists(db: string): Promise<boolean> {
  return (await env.pg.psql(`select count(*) from pg_database where datname = ${literal(db)}`)).trim() === '1';
}

/** The database's own comment, settings and ACL toward PUBLIC and `role`, byte for byte (hex), owner-independent. */
async function databaseProperties(db: string, role?: string): Promise<Record<string, string>> {
  const row = await env.pg.psql(
    `select encode(convert_to(coalesce(shobj_description(d.oid, 'pg_database'), '<none>'), 'UTF8'), 'hex'),
            coalesce((select encode(convert_to(array_to_string(setconfig, E'\\x01'), 'UTF8'), 'hex') from pg_db_role_setting where setdatabase = d.oid and setrole = 0), '<none>'),
            has_database_privilege('public', d.oid, 'CONNECT'),
            ${role ? `has_database_privilege(${literal(role)}, d.oid, 'CONNECT')` : "'-'"},
            coalesce((select encode(convert_to(array_to_string(setconfig, E'\\x01'), 'UTF8'), 'hex') from pg_db_role_setting s join pg_roles r on r.oid = s.setrole where setdatabase = d.oid${role ? ` and r.rolname = ${literal(role)}` : ''}), '<none>')
     from pg_database d where datname = ${literal(db)}`,
  );
  const [comment, settings, publicConnect, roleConnect, roleSettings] = row.trim().split('|');
  return { comment, settings, publicConnect, roleConnect, roleSettings };
}

/** Takes a backup of `db` and returns its dump key. */
async function backup(db: string, extra: Record<string, string> = {}): Promise<string> {
  const run = await runCli(['backup', ...(extra.GLOBALS ? ['--globals'] : [])], env.cliEnv(db, PREFIX, extra));
  if (run.code !== 0) throw new Error(`backup of ${db} failed:\n${run.stdout}\n${run.stderr}`);
  return String(eventOf(run, 'backup.complete').key);
}

/** Writes one object into the bucket, as a writer that can create objects there does. */
const put = (key: string, body: Buffer | string) => env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: body }));

/**
 * Writes a backup into `database`'s folder the way a writer that can create objects there could:
 * a dump, optionally a globals file, and a manifest whose sizes and SHA-256s match them. Its
 * stamp is this minute, with a sequence that sorts after any real backup of the minute.
 */
let planted = 0;
async function plant(database: string, dump: Buffer, manifestFrom: Record<string, unknown>, globals?: Buffer): Promise<string> {
  const now = new Date();
  const stem = `${databaseFolder(PREFIX, database)}${timestampOf(now)}-${90 + planted++}`;
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  await put(`${stem}.dump`, dump);
  if (globals) await put(`${stem}.globals.sql`, globals);
  const manifest = {
    ...manifestFrom,
    database,
    key: `${stem}.dump`,
    startedAt: now.toISOString(),
    finishedAt: now.toISOString(),
    bytes: dump.length,
    sha256: sha(dump),
    globals: globals ? { key: `${stem}.globals.sql`, bytes: globals.length, sha256: sha(globals), noRolePasswords: false } : undefined,
  };
  await put(`${stem}.manifest.json`, JSON.stringify(manifest, null, 2));
  return `${stem}.dump`;
}

const manifestOf = async (dumpKey: string) => JSON.parse((await env.get(dumpKey.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));

describe("a database owner's comment and settings cannot become SQL on the restore target (item 1)", () => {
  const marker = join(tmpdir(), `pg-s3-backup-payload-${randomBytes(6).toString('hex')}`);
  const comment = 'harmless\n\\';
  const searchPath = `; ALTER ROLE payload_owner SUPERUSER; COPY (SELECT 1) TO PROGRAM $$touch ${marker}$$; --`;
  let key: string;
  let source: Record<string, string>;

  beforeAll(async () => {
    await env.pg.psql(
      `create role payload_owner login password 'owner-pw'; create role payload_reader; create database payload owner payload_owner;`,
    );
    // GIVEN a database whose owner, not a superuser, chose a comment and a setting that read as SQL
    // once cut into lines (a line "\';" ends the literal for whoever drops backslash lines).
    await env.pg.psql(
      `set role payload_owner;
       comment on database payload is E${literal(comment.replace(/\\/g, '\\\\'))};
       alter database payload set search_path = ${literal(searchPath)}, public;
       revoke connect, temporary on database payload from public;
       grant connect on database payload to payload_reader;
       create table t (x int); insert into t values (1);`,
      { database: 'payload' },
    );
    await env.pg.psql('alter role payload_reader in database payload set statement_timeout = 5000;');
    expect((await env.pg.psql("select rolsuper from pg_roles where rolname = 'payload_owner'")).trim()).toBe('f');
    source = await databaseProperties('payload', 'payload_reader');
    key = await backup('payload');
  });

  afterEach(() => {
    expect(existsSync(marker)).toBe(false);
    rmSync(marker, { force: true });
  });

  async function expectFaithfulAndHarmless(db: string): Promise<void> {
    expect((await env.pg.psql("select rolsuper from pg_roles where rolname = 'payload_owner'")).trim()).toBe('f');
    expect(existsSync(marker)).toBe(false);
    // The comment and the settings come back byte for byte, privileges as they were.
    expect(await databaseProperties(db, 'payload_reader')).toEqual(source);
    expect(source.publicConnect).toBe('f');
    expect(source.roleConnect).toBe('t');
  }

  test('restore --latest into a new database: exit 0, nothing runs, the properties come back exactly', async () => {
    const run = await runCli(['restore', '--latest', '--dbname', 'payload', '--target', target('payload_new')], readEnv());
    expect(run.code).toBe(0);
    expect(eventOf(run, 'restore.properties').msg).toMatch(/COMMENT.*SET search_path|SET search_path.*COMMENT/s);
    await expectFaithfulAndHarmless('payload_new');
  });

  test('the drill (verify --restore-into): the same', async () => {
    const run = await runCli(['verify', '--latest', '--dbname', 'payload'], readEnv({ VERIFY_RESTORE_INTO_URL: target('payload_drill') }));
    expect(run.code).toBe(0);
    await expectFaithfulAndHarmless('payload_drill');
  });

  test('into an existing empty database (its trial runs first, rolled back): the same', async () => {
    await env.pg.createDatabase('payload_existing');
    const run = await runCli(['restore', '--key', key, '--target', target('payload_existing')], readEnv());
    expect(run.code).toBe(0);
    await expectFaithfulAndHarmless('payload_existing');
  });

  test('--jobs 2: the same', async () => {
    const run = await runCli(['restore', '--key', key, '--jobs', '2', '--target', target('payload_jobs')], readEnv());
    expect(run.code).toBe(0);
    await expectFaithfulAndHarmless('payload_jobs');
  });
});

describe('database names pg_dump quotes, and names that are no connection string (items 6 and 7)', () => {
  const names = ['a$b', 'select', 'Mixed Case', 'new\nline', 'dbname=existing'];

  beforeAll(async () => {
    await env.pg.psql('create role names_reader;');
    for (const name of names) {
      await env.pg.psql(
        `create database ${ident(name)};
         comment on database ${ident(name)} is ${literal(`comment of ${name}`)};
         alter database ${ident(name)} set work_mem = '7MB';
         revoke connect on database ${ident(name)} from public;
         grant connect on database ${ident(name)} to names_reader;`,
      );
      await env.pg.psql(`create table t (name text); insert into t values (${literal(name)});`, { database: name });
    }
  });

  test.each(names)('%j restores into a new name with its comment, settings and privileges', async (name) => {
    const key = await backup(name);
    const into = `copy of ${name}`;
    const run = await runCli(['restore', '--key', key, '--target', target(into)], readEnv());
    expect(run.code).toBe(0);
    expect(await databaseProperties(into, 'names_reader')).toEqual(await databaseProperties(name, 'names_reader'));
    expect((await env.pg.psql('select name from t', { database: into })).trim()).toBe(name.trim());
  });

  test('a target named "dbname=existing" is that database, not a connection string (single job and --jobs)', async () => {
    await env.pg.createDatabase('existing');
    await env.pg.psql('create table keep (x int); insert into keep values (7);', { database: 'existing' });
    const key = await backup('a$b');
    for (const [jobs, name] of [
      ['1', 'dbname=one'],
      ['2', 'dbname=existing2'],
    ]) {
      const run = await runCli(['restore', '--key', key, '--jobs', jobs, '--target', target(name)], readEnv());
      expect(run.code).toBe(0);
      expect(await exists(name)).toBe(true);
      expect((await env.pg.psql('select name from t', { database: name })).trim()).toBe('a$b');
    }
    expect(
      (await env.pg.psql("select string_agg(tablename, ',') from pg_tables where schemaname = 'public'", { database: 'existing' })).trim(),
    ).toBe('keep');
  });
});

describe('a planted globals file runs nothing (item 2)', () => {
  const marker = join(tmpdir(), `pg-s3-backup-globals-${randomBytes(6).toString('hex')}`);
  let realKey: string;

  beforeAll(async () => {
    await env.pg.createDatabase('planted');
    await env.pg.psql('create table t (x int); insert into t values (1);', { database: 'planted' });
    realKey = await backup('planted', { GLOBALS: '1' });
  });

  afterEach(() => {
    rmSync(`${marker}-1`, { force: true });
    rmSync(`${marker}-2`, { force: true });
  });

  test.each([
    [
      'a shell escape',
      'planted_a',
      `CREATE ROLE planted_a;\n\\! touch ${marker}-1\n\\o ${marker}-2\nSELECT 1;\n`,
      /psql command "\\\\! touch/,
    ],
    [
      'a statement no globals dump holds',
      'planted_b',
      `CREATE ROLE planted_b;\nCOPY (SELECT 1) TO PROGRAM 'touch ${marker}-1';\n`,
      /kind pg_dumpall --globals-only does not write/,
    ],
    [
      "a meta-command after pg_dumpall's own \\restrict pair",
      'planted_c',
      `\\restrict abc\nCREATE ROLE planted_c;\n\\unrestrict abc\n\\! touch ${marker}-1\n`,
      /psql command/,
    ],
  ])('%s: restore --globals refuses it (exit 5) before anything is applied', async (_what, into, sql, message) => {
    const key = await plant('planted', await env.get(realKey), await manifestOf(realKey), Buffer.from(sql));
    const run = await runCli(['restore', '--key', key, '--globals', '--target', target(into)], readEnv());
    expect(run.code).toBe(5);
    expect(String(eventOf(run, 'restore.failed').cause)).toMatch(message);
    expect(existsSync(`${marker}-1`)).toBe(false);
    expect(existsSync(`${marker}-2`)).toBe(false);
    expect(await exists(into)).toBe(false);
    expect((await env.pg.psql("select count(*) from pg_roles where rolname like 'planted\\_%'")).trim()).toBe('0');
  });

  test("the real backup's globals (with pg_dumpall's own \\restrict pair) still apply", async () => {
    const run = await runCli(['restore', '--key', realKey, '--globals', '--target', target('planted_real')], readEnv());
    expect(run.code).toBe(0);
    expect(run.events.some((e) => e.event === 'restore.globals' && /Applied roles/.test(String(e.msg)))).toBe(true);
  });
});

describe('an archive filed under another database is refused (item 4)', () => {
  let otherDump: Buffer;
  let manifest: Record<string, unknown>;

  beforeAll(async () => {
    for (const db of ['filed_a', 'filed_b']) {
      await env.pg.createDatabase(db);
      await env.pg.psql(`create table t (x text); insert into t values ('${db}');`, { database: db });
    }
    const a = await backup('filed_a');
    otherDump = await env.get(a);
    manifest = await manifestOf(await backup('filed_b'));
  });

  test('verify and restore of a dump of filed_a stored as filed_b, with a manifest that says filed_b: exit 5, nothing restored', async () => {
    const key = await plant('filed_b', otherDump, manifest);
    const verify = await runCli(['verify', '--key', key], readEnv());
    expect(verify.code).toBe(5);
    expect(String(eventOf(verify, 'verify.failed').cause)).toMatch(/dumped from the database "filed_a", but the manifest says "filed_b"/);
    const restore = await runCli(['restore', '--key', key, '--target', target('filed_wrong')], readEnv());
    expect(restore.code).toBe(5);
    expect(String(eventOf(restore, 'restore.failed').cause)).toMatch(/dumped from the database "filed_a"/);
    expect(await exists('filed_wrong')).toBe(false);
    const drill = await runCli(['verify', '--key', key], readEnv({ VERIFY_RESTORE_INTO_URL: target('filed_drill') }));
    expect(drill.code).toBe(5);
    expect(await exists('filed_drill')).toBe(false);
  });
});

describe("a data piece's database entries run nothing (parallel backups)", () => {
  const marker = join(tmpdir(), `pg-s3-backup-piece-${randomBytes(6).toString('hex')}`);
  // A setting whose value is room for the planted SQL: the same number of bytes, so the archive's
  // length-prefixed string stays well formed.
  const placeholder = `'${'x'.repeat(200)}'`;
  let key: string;
  let source: Record<string, string>;

  beforeAll(async () => {
    await env.pg.psql('create role piece_owner login; create database piece_planted owner piece_owner;');
    await env.pg.psql(
      `alter database piece_planted set app.note = ${placeholder};
       create table t (x int); insert into t select generate_series(1, 1000);`,
      { database: 'piece_planted' },
    );
    source = await databaseProperties('piece_planted');
    const run = await runCli(['backup', '--jobs', '2'], env.cliEnv('piece_planted', PREFIX));
    expect(run.code).toBe(0);
    key = String(eventOf(run, 'backup.complete').key);
  });

  afterAll(() => rmSync(marker, { force: true }));

  test('a rest piece whose DATABASE PROPERTIES entry was rewritten into SQL: restore --jobs 2, verify and the drill run none of it', async () => {
    // GIVEN the rest piece (pg_dump --data-only, which writes the database's settings as an entry
    // of its own) rewritten by a writer who can create objects, with a manifest that matches it
    const manifest = await manifestOf(key);
    const rest = (manifest.parallel.pieces as { key: string; kind: string; sha256: string }[]).find((p) => p.kind === 'rest')!;
    const original = await env.get(rest.key);
    const sql = `'x'; ALTER ROLE piece_owner SUPERUSER; COPY (SELECT 1) TO PROGRAM 'touch ${marker}'; --`;
    const at = original.indexOf(placeholder);
    expect(at).toBeGreaterThan(-1);
    const planted = Buffer.concat([
      original.subarray(0, at),
      Buffer.from(sql.padEnd(placeholder.length, 'x')),
      original.subarray(at + placeholder.length),
    ]);
    const toc = await readTableOfContents(
      () => Promise.resolve(Readable.from([planted])),
      () => true,
      rest.key,
    );
    expect(toc.entries.find((e) => e.defn.includes('SUPERUSER'))).toMatchObject({ desc: 'DATABASE PROPERTIES' });
    rest.sha256 = createHash('sha256').update(planted).digest('hex');
    await put(rest.key, planted);
    await put(key.replace(/\.dump$/, '.manifest.json'), JSON.stringify(manifest, null, 2));
    // WHEN it is restored in parallel, verified, and drilled
    const restore = await runCli(['restore', '--key', key, '--jobs', '2', '--target', target('piece_planted_r')], readEnv());
    const verify = await runCli(['verify', '--key', key], readEnv());
    const drill = await runCli(['verify', '--key', key], readEnv({ VERIFY_RESTORE_INTO_URL: target('piece_planted_drill') }));
    // THEN each completes (pg_restore applies a piece's database entries only with --create, which
    // no piece is restored with; the settings come from the schema, checked statement by statement),
    // and nothing of the planted SQL ran
    expect([restore.code, verify.code, drill.code]).toEqual([0, 0, 0]);
    expect((await env.pg.psql("select rolsuper from pg_roles where rolname = 'piece_owner'")).trim()).toBe('f');
    expect(existsSync(marker)).toBe(false);
    expect(await databaseProperties('piece_planted_r')).toEqual(source);
    expect(await databaseProperties('piece_planted_drill')).toEqual(source);
  });
});

describe('SIGKILL of restore --jobs stops pg_restore (item 9)', () => {
  test('pg_restore does not go on into the database after the CLI is killed', async () => {
    // GIVEN a backup whose restore spends seconds in one index build (an expression calling a slow function)
    await env.pg.createDatabase('slow_src');
    await env.pg.psql(
      // Slow only in the restored copy: the source's own index builds at once.
      `create function slow(i int) returns int immutable language plpgsql as $$
         begin if current_database() <> 'slow_src' then perform pg_sleep(0.02); end if; return i; end $$;
       create table t as select g as id from generate_series(1, 1000) g;
       create index t_slow on t (slow(id));`,
      { database: 'slow_src' },
    );
    const key = await backup('slow_src');
    // WHEN the CLI is killed while pg_restore builds that index
    let cli = 0;
    const running = runCli(['restore', '--key', key, '--jobs', '2', '--target', target('slow_dst')], readEnv(), {
      onStart: (pid) => (cli = pid),
    });
    const deadline = Date.now() + 60_000;
    let restorers: number[] = [];
    while (Date.now() < deadline) {
      restorers = cli ? childPids(cli, 'pg_restore') : [];
      if (
        restorers.length > 0 &&
        (await env.pg.psql("select count(*) from pg_stat_activity where query ilike 'create index%'")).trim() !== '0'
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(restorers.length).toBeGreaterThan(0);
    restorers = [...restorers, ...restorers.flatMap((p) => childPids(p, 'pg_restore'))]; // its parallel workers
    process.kill(cli, 'SIGKILL');
    await running;
    // THEN pg_restore ends within seconds (it would otherwise build the index for 20 s)
    const gone = Date.now() + 5_000;
    while (Date.now() < gone && restorers.some((p) => existsSync(`/proc/${p}`))) await new Promise((r) => setTimeout(r, 100));
    expect(restorers.filter((p) => existsSync(`/proc/${p}`))).toEqual([]);
    await env.pg.dropDatabase('slow_dst');
  });
});

describe('a full temp directory is a local-disk failure (exit 7), not a storage failure (item 9)', () => {
  test('restore --jobs 2 whose download fills --temp-dir: exit 7 naming the disk and --temp-dir, no database created', async () => {
    // GIVEN an archive of a few MB, downloaded slowly (the proxy stands in for a slow link), into
    // a small tmpfs of its own (a private mount namespace: unshare maps this user to root there)
    // that has room for it when the restore starts and is filled by another writer meanwhile.
    await createBulkDatabase(env.pg, 'disk_src', 8);
    const key = await backup('disk_src', { BACKUP_COMPRESS: '0' });
    const bytes = (await env.get(key)).length;
    const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-tmpfs-'));
    env.proxy.addRule((req) =>
      req.operation === 'GetObject' && req.url.includes('disk_src') && !req.headers.range?.startsWith('bytes=0-4095')
        ? { kind: 'forward', bytesPerSecond: Math.ceil(bytes / 4) }
        : undefined,
    );
    const fill = `until ls "$1"/*/archive.dump >/dev/null 2>&1; do sleep 0.05; done; cat /dev/zero > "$1/filler" 2>/dev/null`;
    const wrapper = [
      'unshare',
      '-rm',
      'sh',
      '-c',
      `mount -t tmpfs -o size=${Math.ceil(bytes * 1.5)} none "$1" || exit 9; (${fill}) & shift; exec "$@"`,
      'sh',
      dir,
    ];
    try {
      // WHEN it restores with --jobs (the path that downloads first)
      const run = await runCli(['restore', '--key', key, '--jobs', '2', '--temp-dir', dir, '--target', target('disk_dst')], readEnv(), {
        wrapper,
      });
      // THEN
      expect(run.code).toBe(7);
      expect(String(eventOf(run, 'restore.failed').cause)).toMatch(
        /Writing the download .* failed: .*(ENOSPC|no space left).*local disk is full.*--temp-dir/is,
      );
      expect(await exists('disk_dst')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
