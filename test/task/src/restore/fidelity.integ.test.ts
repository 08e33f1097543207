/**
 * Restore fidelity on a database holding every kind of object (task/dev/sample-app.sql plus
 * test/fixtures/every-object.sql): what comes back, compared the way PostgreSQL's own upgrade
 * tests compare, by the plain pg_dump of both; the database's own settings, ACL and comment
 * re-aimed at a target of another name; reports that never undo a restore; corruption
 * anywhere in a multi-part archive reported as corruption; and what to do when --clean fails.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSampleApp } from '../../../support/postgres/fingerprint';
import { BackupTestEnv, createBulkDatabase, startBackupTestEnv } from '../../../support/backup-env';
import { CliRun, eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;
let fidelityKey: string;
let bulkKey: string;
const PREFIX = 'fidelity';

async function backup(database: string, args: string[] = [], extra: Record<string, string> = {}): Promise<string> {
  const run = await runCli(['backup', ...args], env.cliEnv(database, PREFIX, extra));
  if (run.code !== 0) throw new Error(`backup of ${database} failed:\n${run.stdout}\n${run.stderr}`);
  return String(eventOf(run, 'backup.complete').key);
}

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('fidelity');
  await loadSampleApp(env.pg, 'fidelity');
  await env.pg.psql(readFileSync(join(__dirname, '..', '..', '..', 'fixtures', 'every-object.sql'), 'utf8'), { database: 'fidelity' });
  fidelityKey = await backup('fidelity', ['--globals']);
  await createBulkDatabase(env.pg, 'bulk', 30);
  // Two tables: zlib finds a damaged block only at its end, so damage in the first table makes
  // pg_restore stop while the second is still being downloaded (the case once misreported as a
  // broken pipe, exit 4). Compressed, and in several parts.
  await env.pg.psql('create table bulk_again as select * from bulk;', { database: 'bulk' });
  bulkKey = await backup('bulk', ['--part-size-mib', '5']);
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;
const readEnv = (extra: Record<string, string> = {}) => ({
  ...env.s3.env(),
  S3_ENDPOINT: env.endpoint,
  BACKUP_PREFIX: PREFIX,
  PGPASSWORD: env.pg.password,
  ...extra,
});
const one = async (sql: string, database = 'postgres') => (await env.pg.psql(sql, { database })).trim();
const exists = async (db: string) => (await one(`select count(*) from pg_database where datname = '${db}'`)) === '1';

/** The database's own settings, role-in-database settings, ACL and comment, as the catalogs hold them. */
async function databaseProperties(db: string): Promise<Record<string, string>> {
  const of = (role: string) =>
    one(
      `select coalesce(string_agg(c, ',' order by c), '') from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase, unnest(s.setconfig) c
       where d.datname = '${db}' and s.setrole = ${role}`,
    );
  return {
    settings: await of('0'),
    roleSettings: await of("(select oid from pg_roles where rolname = 'fidelity_app')"),
    acl: await one(`select coalesce(datacl::text, '') from pg_database where datname = '${db}'`),
    comment: await one(`select coalesce(shobj_description(oid, 'pg_database'), '') from pg_database where datname = '${db}'`),
  };
}

/** The plain pg_dump of a database, as pg_upgrade's tests compare them (a fixed \restrict key). */
function plainDump(db: string, extra: Record<string, string> = {}): string[] {
  const r = spawnSync(join(env.pg.binDir, 'pg_dump'), ['--restrict-key=fidelity', '--no-password', db], {
    env: { ...process.env, ...env.pg.env(db), ...extra },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`pg_dump ${db} failed: ${r.stderr}`);
  return r.stdout.split('\n');
}

/** Lines of `a` missing from `b` and lines of `b` missing from `a`, as a multiset difference. */
function lineDiff(a: string[], b: string[]): string[] {
  const count = new Map<string, number>();
  for (const l of a) count.set(l, (count.get(l) ?? 0) + 1);
  for (const l of b) count.set(l, (count.get(l) ?? 0) - 1);
  return [...count].filter(([, n]) => n !== 0).map(([l, n]) => `${n > 0 ? '-' : '+'} ${l}`);
}

/** A filter for the lines of the blocks (a CREATE TABLE … ); or a COPY … \\.) that start with one of `starts`. */
function inBlocks(...starts: RegExp[]): (line: string) => boolean {
  let inside = false;
  return (line) => {
    if (starts.some((r) => r.test(line))) inside = true;
    const keep = inside;
    if (inside && (line === ');' || line.startsWith(')') || line === '\\.')) inside = false;
    return keep;
  };
}

describe('restore into a new database name', () => {
  test('gives back what plain pg_dump | pg_restore gives back, by the plain pg_dump of both', async () => {
    // GIVEN the reference: the archive restored by plain pg_restore into another database
    const archive = await env.get(fidelityKey);
    env.restoreInto(archive, 'fidelity_reference');
    // WHEN the CLI restores it
    const run = await runCli(['restore', '--key', fidelityKey, '--target', target('fidelity_copy')], readEnv());
    expect(run.code).toBe(0);
    // THEN its plain dump differs from the source's only as plain pg_restore's does. For the
    // reference, the one setting it lost is given to pg_dump's session: the source's
    // bytea_output=escape changes how pg_dump writes every bytea value (the next test covers settings).
    const source = plainDump('fidelity');
    const ours = lineDiff(source, plainDump('fidelity_copy'));
    expect(ours).toEqual(lineDiff(source, plainDump('fidelity_reference', { PGOPTIONS: '-c bytea_output=escape' })));
    expect(lineDiff(source, plainDump('fidelity_reference')).length).toBeGreaterThan(ours.length);
    // The one difference both show, and why: a child table created with its own column order and
    // attached later (ALTER TABLE … INHERIT) is dumped as CREATE TABLE … INHERITS, so it comes back
    // with the parent's columns first. Same columns, same rows by column name; only attnum order differs.
    const childBlocks = new Set(
      [...source, ...plainDump('fidelity_copy')].filter(inBlocks(/^CREATE TABLE fx\.child \(/, /^COPY fx\.child /)),
    );
    expect(ours.filter((l) => !childBlocks.has(l.slice(2)))).toEqual([]);
    expect(ours.length).toBeGreaterThan(0); // the fixture still has that child
  });

  test("carries the source database's settings, role-in-database settings, ACL and comment, and lists them", async () => {
    const run = await runCli(['restore', '--key', fidelityKey, '--target', target('fidelity_props')], readEnv());
    expect(run.code).toBe(0);
    const source = await databaseProperties('fidelity');
    expect(source.settings).toMatch(/timezone_abbreviations=India/); // the fixture is what it claims
    expect(await databaseProperties('fidelity_props')).toEqual({
      ...source,
      // The ACL names the database's owner, which is the restoring user here as in the source.
      acl: source.acl,
    });
    expect(eventOf(run, 'restore.complete').databaseProperties).toEqual({
      applied: expect.arrayContaining([
        'SET timezone_abbreviations',
        'SET bytea_output',
        'SET lc_monetary',
        'role fidelity_app: SET work_mem',
        'COMMENT',
        'GRANT CONNECT TO fidelity_reader',
      ]),
      skipped: [],
    });
    // Plain pg_restore drops all of them: the reason this exists.
    expect(await databaseProperties('fidelity_reference')).toEqual({ settings: '', roleSettings: '', acl: '', comment: '' });
  });

  test('--no-database-properties leaves the target its own', async () => {
    const run = await runCli(
      ['restore', '--key', fidelityKey, '--no-database-properties', '--target', target('fidelity_plain')],
      readEnv(),
    );
    expect(run.code).toBe(0);
    expect(await databaseProperties('fidelity_plain')).toEqual({ settings: '', roleSettings: '', acl: '', comment: '' });
  });

  test('the drill (verify --restore-into) reports them too; with --no-acl the ACL is left out', async () => {
    const run = await runCli(['verify', '--key', fidelityKey, '--no-acl', '--restore-into', target('fidelity_drill')], readEnv());
    expect(run.code).toBe(0);
    const applied = (eventOf(run, 'verify.ok').databaseProperties as { applied: string[] }).applied;
    expect(applied).toEqual(expect.arrayContaining(['SET timezone_abbreviations', 'COMMENT']));
    expect(applied.filter((a) => /GRANT|REVOKE/.test(a))).toEqual([]);
    expect((await databaseProperties('fidelity_drill')).acl).toBe('');
  });
});

describe('a parallel backup (--jobs 2) restored with --jobs 2', () => {
  test('gives back what the single-stream backup gives back: the same plain dump, properties and globals', async () => {
    // GIVEN a role that only the stored globals can bring back, and both kinds of backup of the same database
    await env.pg.psql("create role fidelity_parallel_role nologin; comment on role fidelity_parallel_role is 'from the globals';");
    const parallelKey = await backup('fidelity', ['--globals', '--jobs', '2']);
    const manifest = JSON.parse((await env.get(parallelKey.replace(/\.dump$/, '.manifest.json'))).toString());
    expect(manifest.parallel.pieces.length).toBeGreaterThan(0); // it is a parallel backup
    const singleKey = await backup('fidelity', ['--globals']);
    await env.pg.psql('drop role fidelity_parallel_role;');
    // WHEN each is restored, the parallel one with --jobs 2 and its globals
    const parallel = await runCli(
      ['restore', '--key', parallelKey, '--jobs', '2', '--globals', '--target', target('fidelity_par')],
      readEnv(),
    );
    expect(parallel.code).toBe(0);
    expect(await one("select count(*) from pg_roles where rolname = 'fidelity_parallel_role'")).toBe('1');
    const single = await runCli(['restore', '--key', singleKey, '--target', target('fidelity_par_ref')], readEnv());
    expect(single.code).toBe(0);
    // THEN both are the same database, by their plain dumps, with the same properties applied
    expect(lineDiff(plainDump('fidelity_par_ref'), plainDump('fidelity_par'))).toEqual([]);
    expect(await databaseProperties('fidelity_par')).toEqual(await databaseProperties('fidelity_par_ref'));
    expect((await databaseProperties('fidelity_par')).comment).not.toBe('');
    expect(eventOf(parallel, 'restore.complete').databaseProperties).toEqual(eventOf(single, 'restore.complete').databaseProperties);
  });
});

describe('reporting never undoes a restore', () => {
  test('counting rows that fails (a statement_timeout the restored database sets) is a warning; the restore stands', async () => {
    // GIVEN a database whose own settings, once restored, time out every statement after 1 ms;
    // the backup runs with PGOPTIONS overriding it, as an operator's session would
    await env.pg.createDatabase('slowcount');
    await env.pg.psql(
      "create table big as select g, md5(g::text) as h from generate_series(1, 300000) g; alter database slowcount set statement_timeout = '1ms';",
      {
        database: 'slowcount',
      },
    );
    const key = await backup('slowcount', [], { PGOPTIONS: '-c statement_timeout=0' });
    // WHEN it is restored
    const run = await runCli(['restore', '--key', key, '--target', target('slowcount_copy')], readEnv());
    // THEN the restore succeeds and says it could not count
    expect(run.code).toBe(0);
    expect(String(eventOf(run, 'restore.summary').msg)).toMatch(/succeeded, but counting its rows failed: .*statement timeout/);
    expect(eventOf(run, 'restore.complete')).toMatchObject({
      createdDatabase: true,
      databaseProperties: { applied: ['SET statement_timeout'] },
    });
    expect(eventOf(run, 'restore.complete').rows).toBeUndefined();
    expect(await one('select count(*) from big', 'slowcount_copy').catch(() => 'timed out')).toBe('timed out');
    expect(await exists('slowcount_copy')).toBe(true);
  });
});

describe('--clean', () => {
  test('that pg_restore cannot carry out says so and what to do instead; nothing changes', async () => {
    // GIVEN a partitioned table whose partition's key index hangs off the parent's primary key
    await env.pg.createDatabase('partitioned');
    await env.pg.psql(
      'create table p (id int primary key, k int) partition by range (id); create table p1 partition of p for values from (0) to (100); insert into p values (1, 1);',
      { database: 'partitioned' },
    );
    const key = await backup('partitioned');
    expect((await runCli(['restore', '--key', key, '--target', target('partitioned_copy')], readEnv())).code).toBe(0);
    await env.pg.psql('insert into p values (2, 2);', { database: 'partitioned_copy' });
    // WHEN it is restored again with --clean
    const run = await runCli(['restore', '--key', key, '--clean', '--target', target('partitioned_copy')], readEnv());
    // THEN
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'restore.failed').cause)).toMatch(
      /cannot drop inherited constraint[\s\S]*--clean could not replace the objects in 'partitioned_copy'[\s\S]*Restore into a new database name instead/,
    );
    expect(await one('select count(*) from p', 'partitioned_copy')).toBe('2');
  });
});

describe('corruption anywhere in a multi-part archive is an integrity failure (exit 5), in verify and restore', () => {
  const cases: Array<[string, (b: Buffer) => Buffer]> = [
    ['a byte flipped in the header', (b) => ((b[20] ^= 0x01), b)],
    ["a byte flipped in the first table's data", (b) => ((b[Math.floor(b.length / 4)] ^= 0x01), b)],
    ['a byte flipped in the middle', (b) => ((b[Math.floor(b.length / 2)] ^= 0x01), b)],
    ['a byte flipped near the end', (b) => ((b[b.length - 50] ^= 0x01), b)],
    ['cut in half', (b) => b.subarray(0, Math.floor(b.length / 2))],
    ['the last kilobyte missing', (b) => b.subarray(0, b.length - 1024)],
  ];
  let n = 0;

  /** A copy of the bulk backup whose dump is damaged by `mutate`, with the original manifest. */
  async function damaged(mutate: (b: Buffer) => Buffer): Promise<string> {
    const stamp = `2000010100${String(++n).padStart(2, '0')}`;
    const key = `${PREFIX}/bulk/${stamp}.dump`;
    const manifest = (await env.get(bulkKey.replace(/\.dump$/, '.manifest.json'))).toString('utf8');
    await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: mutate(Buffer.from(await env.get(bulkKey))) }));
    await env.put(key.replace(/\.dump$/, '.manifest.json'), manifest.replace(JSON.stringify(bulkKey), JSON.stringify(key)));
    return key;
  }

  const expectCorrupt = (run: CliRun, event: string) => {
    expect({ code: run.code, cause: String(eventOf(run, event).cause) }).toEqual({
      code: 5,
      cause: expect.stringMatching(/failed verification/),
    });
    expect(String(eventOf(run, event).cause)).toMatch(/SHA-256: read/);
  };

  test.each(cases)('%s', async (_, mutate) => {
    const key = await damaged(mutate);
    expectCorrupt(await runCli(['verify', '--key', key], readEnv()), 'verify.failed');
    const db = `corrupt_${n}`;
    expectCorrupt(await runCli(['restore', '--key', key, '--target', target(db)], readEnv()), 'restore.failed');
    expect(await exists(db)).toBe(false);
  });
});
