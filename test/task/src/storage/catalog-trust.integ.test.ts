/**
 * What `list`, `status` and `--latest`/`--key` believe of the bucket, under docs/security.md's threat
 * model: a compromised backup task can create new objects in its database's folder (it cannot
 * read, delete or overwrite). Every planted backup here is made as such a writer could: a copy
 * of a real dump (the writer made it) and a manifest that matches its bytes, but that claims a
 * time, key or database the objects around it do not confirm. Real PostgreSQL, real pg_dump and
 * pg_restore, s3rver, the real CLI bundle.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { CliRun, eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('app');
  await env.pg.psql('create table t (id int primary key, note text); insert into t values (1, $$one$$), (2, $$two$$);', {
    database: 'app',
  });
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

/** Environment for read-side commands: the bucket and prefix, and the password for restore targets. */
const readEnv = (prefix: string, extra: Record<string, string> = {}) => ({
  ...env.s3.env(),
  S3_ENDPOINT: env.endpoint,
  BACKUP_PREFIX: prefix,
  PGPASSWORD: env.pg.password,
  ...extra,
});
const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;
const manifestKey = (dumpKey: string) => dumpKey.replace(/\.dump$/, '.manifest.json');

/** A real backup of `app` under `prefix`, by the CLI: its dump key. */
async function backup(prefix: string): Promise<string> {
  const run = await runCli(['backup'], env.cliEnv('app', prefix));
  if (run.code !== 0) throw new Error(`backup failed:\n${run.stdout}\n${run.stderr}`);
  return String(eventOf(run, 'backup.complete').key);
}

async function manifestOf(dumpKey: string): Promise<Record<string, unknown>> {
  return JSON.parse((await env.get(manifestKey(dumpKey))).toString('utf8'));
}

/**
 * Writes a dump at `key` (the bytes of `from`'s dump) and beside it a manifest: `from`'s, with
 * the key, size and SHA-256 of what was written, then `changes` (a string is written as is).
 */
async function plant(key: string, from: string, changes: Record<string, unknown> | string = {}): Promise<string> {
  const dump = await env.get(from);
  await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: dump }));
  const sha256 = createHash('sha256').update(dump).digest('hex');
  const manifest =
    typeof changes === 'string' ? changes : JSON.stringify({ ...(await manifestOf(from)), key, bytes: dump.length, sha256, ...changes });
  await env.put(manifestKey(key), manifest);
  return key;
}

/** `YYYYMMDDHHmm` and the ISO time of `hours` ago, on a whole minute. */
function hoursAgo(hours: number): { stamp: string; iso: string } {
  const d = new Date(Math.floor((Date.now() - hours * 3.6e6) / 60_000) * 60_000);
  return { stamp: d.toISOString().replace(/[-:T]/g, '').slice(0, 12), iso: d.toISOString() };
}

type Row = { key: string; status: string; complete: boolean; invalid: boolean; problem: string | null };
const rowsOf = (run: CliRun): Row[] => JSON.parse(run.stdout);
const rowOf = (run: CliRun, key: string): Row | undefined => rowsOf(run).find((r) => r.key === key);
const lastEvent = (run: CliRun) => JSON.parse(run.stderr.trim().split('\n').pop()!);

describe('a planted backup stamped in the year 9999', () => {
  const PREFIX = 'ct/future';
  let realKey: string;
  let planted: string;

  beforeAll(async () => {
    realKey = await backup(PREFIX);
    // The whole attack: a dump the writer made, at a key it may create, with a manifest whose
    // size and SHA-256 match it and whose startedAt agrees with the key's stamp.
    planted = await plant(`${PREFIX}/app/999912312359.dump`, realKey, {
      startedAt: '9999-12-31T23:59:00.000Z',
      finishedAt: '9999-12-31T23:59:30.000Z',
    });
  }, 120_000);

  test('verify --latest and restore --latest choose the real newest backup, not the planted one', async () => {
    const verify = await runCli(['verify', '--latest', '--dbname', 'app'], readEnv(PREFIX));
    expect(verify.code).toBe(0);
    expect(eventOf(verify, 'verify.ok')).toMatchObject({ key: realKey });

    const restore = await runCli(['restore', '--latest', '--dbname', 'app', '--target', target('from_future')], readEnv(PREFIX));
    expect(restore.code).toBe(0);
    expect(eventOf(restore, 'restore.begin')).toMatchObject({ key: realKey });
    expect(eventOf(restore, 'restore.complete')).toMatchObject({ key: realKey });
  });

  test('status does not count it fresh: it names it and exits 5, the real newest backup being fresh', async () => {
    const run = await runCli(['status', '--dbname', 'app', '--max-age-hours', '26', '--json'], readEnv(PREFIX));
    expect(run.code).toBe(5);
    const [row] = JSON.parse(run.stdout);
    expect(row.newest.key).toBe(realKey);
    expect(row.newest.ageHours).toBeGreaterThanOrEqual(0);
    expect(row.newest.ageHours).toBeLessThan(0.5);
    expect(row).toMatchObject({ stale: false, flagged: true });
    expect(row.newerIncomplete).toEqual([
      {
        key: planted,
        startedAt: '9999-12-31T23:59:00.000Z',
        status: 'invalid time',
        invalid: true,
        problem: expect.stringMatching(
          /^its key's stamp 999912312359 \(9999-12-31 23:59 UTC\) is later than the dump's S3 LastModified \(\d{4}-.*\) plus 10 minutes/,
        ),
      },
    ]);
    expect(lastEvent(run)).toMatchObject({ event: 'status.invalid', exitCode: 5 });
    expect(lastEvent(run).msg).toMatch(
      /^1 of 1 database has an invalid backup newer than the newest complete one; it was not counted: app: ct\/future\/app\/999912312359\.dump \(invalid time: /,
    );

    const text = await runCli(['status', '--dbname', 'app'], readEnv(PREFIX, { LOG_FORMAT: 'text' }));
    expect(text.code).toBe(5);
    expect(text.stdout).toMatch(
      /^app\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+\d+m\s.*INVALID newer backup ct\/future\/app\/999912312359\.dump \(invalid time\), not counted/m,
    );
  });

  test('list shows it invalid with the reason, still shows every backup, and exits 5', async () => {
    const run = await runCli(['list', '--dbname', 'app', '--json'], readEnv(PREFIX));
    expect(run.code).toBe(5);
    expect(rowsOf(run).map((r) => r.key)).toEqual([planted, realKey]);
    expect(rowOf(run, planted)).toMatchObject({
      status: 'invalid time',
      complete: false,
      invalid: true,
      problem: expect.stringContaining('later than'),
    });
    expect(rowOf(run, realKey)).toMatchObject({ status: 'complete', complete: true, invalid: false, problem: null });
    expect(lastEvent(run)).toMatchObject({ event: 'list.invalid', exitCode: 5, keys: [planted] });

    const text = await runCli(['list', '--dbname', 'app', '--log-format', 'text'], readEnv(PREFIX));
    expect(text.code).toBe(5);
    expect(text.stdout).toMatch(/999912312359\.dump .*INVALID: invalid time/);
    expect(text.stdout).toMatch(new RegExp(`${realKey.split('/').pop()} .* complete`));
  });
});

test('status --max-age-hours exits 6 when the real newest backup is too old, whatever a planted one claims', async () => {
  // GIVEN a folder whose real newest backup is three days old, and a planted one from year 9999
  const PREFIX = 'ct/stale';
  const old = hoursAgo(72);
  const source = await backup('ct/stale-source');
  const realKey = await plant(`${PREFIX}/app/${old.stamp}.dump`, source, { startedAt: old.iso, finishedAt: old.iso });
  await plant(`${PREFIX}/app/999912312359.dump`, source, { startedAt: '9999-12-31T23:59:00.000Z', finishedAt: '9999-12-31T23:59:30.000Z' });

  // WHEN status checks freshness THEN the old backup is the newest that counts: stale
  const run = await runCli(['status', '--max-age-hours', '26', '--json'], readEnv(PREFIX));
  expect(run.code).toBe(6);
  const [row] = JSON.parse(run.stdout);
  expect(row).toMatchObject({ database: 'app', stale: true, flagged: true, newest: { key: realKey } });
  expect(row.newest.ageHours).toBeGreaterThan(71.9);
  expect(lastEvent(run)).toMatchObject({ event: 'status.stale', exitCode: 6 });
  expect(lastEvent(run).msg).toMatch(
    /^1 of 1 database has no complete backup in the last 26 hours: app \(newest complete backup (3d 0h|2d 23h) old\)\. Invalid newer backups, not counted: app: ct\/stale\/app\/999912312359\.dump \(invalid time: /,
  );
});

describe('a manifest must tell the same time as its key and S3', () => {
  const PREFIX = 'ct/times';
  let realKey: string;
  let stem: string;

  beforeAll(async () => {
    realKey = await backup(PREFIX);
    stem = realKey.replace(/\.dump$/, '');
    // A key stamped now (S3 agrees) whose manifest says it started in 9999: the age status would compute.
    await plant(`${stem}-2.dump`, realKey, { startedAt: '9999-12-31T23:59:00.000Z', finishedAt: '9999-12-31T23:59:30.000Z' });
    // Finished before it started.
    const started = String((await manifestOf(realKey)).startedAt);
    await plant(`${stem}-3.dump`, realKey, { startedAt: started, finishedAt: '2000-01-01T00:00:00.000Z' });
    // A stamp that is no minute at all (30 February), its manifest in the minute Date.UTC rolls it to.
    await plant(`${PREFIX}/app/202602301200.dump`, realKey, {
      startedAt: '2026-03-02T12:00:00.000Z',
      finishedAt: '2026-03-02T12:00:10.000Z',
    });
  }, 120_000);

  test('each is listed invalid with its reason; --latest and status take the real backup', async () => {
    const list = await runCli(['list', '--dbname', 'app', '--json'], readEnv(PREFIX));
    expect(list.code).toBe(5);
    expect(rowOf(list, `${stem}-2.dump`)).toMatchObject({
      status: 'invalid time',
      problem: `its manifest's startedAt 9999-12-31T23:59:00.000Z is not in the key's minute ${stem.split('/').pop()}`,
    });
    expect(rowOf(list, `${stem}-3.dump`)).toMatchObject({
      status: 'invalid time',
      problem: expect.stringMatching(/^its manifest's finishedAt 2000-01-01T00:00:00\.000Z is before its startedAt /),
    });
    expect(rowOf(list, `${PREFIX}/app/202602301200.dump`)).toMatchObject({
      status: 'invalid time',
      problem: expect.stringMatching(
        /^its key's stamp 202602301200 is not a real UTC minute; its manifest's startedAt 2026-03-02T12:00:00\.000Z is not in the key's minute/,
      ),
    });
    expect(rowOf(list, realKey)).toMatchObject({ status: 'complete' });

    const verify = await runCli(['verify', '--latest', '--dbname', 'app'], readEnv(PREFIX));
    expect(verify.code).toBe(0);
    expect(eventOf(verify, 'verify.ok')).toMatchObject({ key: realKey });

    const status = await runCli(['status', '--dbname', 'app', '--json'], readEnv(PREFIX));
    expect(status.code).toBe(5);
    const [row] = JSON.parse(status.stdout);
    expect(row.newest.key).toBe(realKey);
    expect(row.newerIncomplete.map((a: Row) => [a.key, a.status])).toEqual([
      [`${stem}-3.dump`, 'invalid time'],
      [`${stem}-2.dump`, 'invalid time'],
    ]);
  });
});

describe("a manifest must name its own key and its folder's database", () => {
  const PREFIX = 'ct/names';
  let realKey: string;
  let stem: string;

  beforeAll(async () => {
    realKey = await backup(PREFIX);
    stem = realKey.replace(/\.dump$/, '');
    await plant(`${stem}-2.dump`, realKey, { key: realKey });
    await plant(`${stem}-3.dump`, realKey, { database: 'billing' });
    // The same backup filed in billing's folder, its manifest naming app: it is not billing's.
    await plant(realKey.replace('/app/', '/billing/'), realKey);
  }, 120_000);

  test('list marks them wrong key / wrong database, and --latest passes them by', async () => {
    const list = await runCli(['list', '--dbname', 'app', '--json'], readEnv(PREFIX));
    expect(list.code).toBe(5);
    expect(rowOf(list, `${stem}-2.dump`)).toMatchObject({
      status: 'wrong key',
      invalid: true,
      problem: `its manifest names key "${realKey}", not ${stem}-2.dump`,
    });
    expect(rowOf(list, `${stem}-3.dump`)).toMatchObject({
      status: 'wrong database',
      invalid: true,
      problem: `its manifest names database "billing", but it sits in the folder 'app/' of database "app"`,
    });
    expect(rowOf(list, realKey)).toMatchObject({ status: 'complete' });

    const billing = await runCli(['list', '--dbname', 'billing', '--json'], readEnv(PREFIX));
    expect(billing.code).toBe(5);
    expect(rowsOf(billing)).toEqual([
      expect.objectContaining({
        status: 'wrong database',
        problem: expect.stringContaining(`names database "app", but it sits in the folder 'billing/'`),
      }),
    ]);

    const verify = await runCli(['verify', '--latest', '--dbname', 'app'], readEnv(PREFIX));
    expect(verify.code).toBe(0);
    expect(eventOf(verify, 'verify.ok')).toMatchObject({ key: realKey });

    const none = await runCli(['verify', '--latest', '--dbname', 'billing'], readEnv(PREFIX));
    expect(none.code).toBe(5);
    expect(String(eventOf(none, 'verify.failed').cause)).toMatch(/No complete backup of 'billing' .*wrong database/);
  });

  test('--key of such a backup is refused with exit 5 naming the disagreement', async () => {
    const wrongKey = await runCli(['verify', '--key', `${stem}-2.dump`], readEnv(PREFIX));
    expect(wrongKey.code).toBe(5);
    expect(String(eventOf(wrongKey, 'verify.failed').cause)).toContain(
      `s3://${env.s3.bucket}/${stem}-2.dump does not agree with its manifest: its manifest names key "${realKey}", not ${stem}-2.dump.`,
    );

    const wrongDb = await runCli(['restore', '--key', `${stem}-3.dump`, '--target', target('wrong_db')], readEnv(PREFIX));
    expect(wrongDb.code).toBe(5);
    expect(String(eventOf(wrongDb, 'restore.failed').cause)).toContain(
      `its manifest names database "billing", but it sits in the folder 'app/'`,
    );

    const filed = await runCli(['verify', '--key', realKey.replace('/app/', '/billing/')], readEnv(PREFIX));
    expect(filed.code).toBe(5);
    expect(String(eventOf(filed, 'verify.failed').cause)).toContain(
      `its manifest names database "app", but it sits in the folder 'billing/'`,
    );
    expect(await runCli(['verify', '--key', realKey], readEnv(PREFIX))).toMatchObject({ code: 0 });
  });
});

describe('one bad manifest does not break list or status for the rest', () => {
  const PREFIX = 'ct/bad';
  let realKey: string;
  let stem: string;
  const bad: Array<[string, Record<string, unknown> | string, RegExp]> = [
    ['startedAt is not a date', { startedAt: 'yesterday' }, /startedAt must be an ISO 8601 UTC time, got "yesterday"/],
    ['tier', { tier: 'hourly' }, /tier must be one of daily, weekly, monthly, got "hourly"/],
    ['bytes', { bytes: -1 }, /bytes must be a non-negative integer, got -1/],
    ['sha256', { sha256: 'ABC' }, /sha256 must be 64 lowercase hex digits, got "ABC"/],
    ['database', { database: '' }, /database must be a non-empty string, got ""/],
    ['key', { key: 42 }, /key must be a non-empty string, got 42/],
    ['globals', { globals: { key: 'x.globals.sql' } }, /globals must be \{key, bytes, sha256, noRolePasswords\}/],
    ['not an object', '[1, 2]', /is not a JSON object/],
  ];

  beforeAll(async () => {
    realKey = await backup(PREFIX);
    stem = realKey.replace(/\.dump$/, '');
    for (const [i, [, changes]] of bad.entries()) await plant(`${stem}-${i + 2}.dump`, realKey, changes);
  }, 120_000);

  test('list prints every row, each bad manifest invalid with the field named, and exits 5 (not 1)', async () => {
    const run = await runCli(['list', '--dbname', 'app', '--json'], readEnv(PREFIX));
    expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 5, stderr: expect.not.stringContaining('Invalid time value') });
    expect(rowsOf(run)).toHaveLength(bad.length + 1);
    for (const [i, [what, , problem]] of bad.entries()) {
      expect({ what, row: rowOf(run, `${stem}-${i + 2}.dump`) }).toEqual({
        what,
        row: expect.objectContaining({ status: 'invalid manifest', invalid: true, problem: expect.stringMatching(problem) }),
      });
    }
    expect(rowOf(run, realKey)).toMatchObject({ status: 'complete' });

    const text = await runCli(['list', '--dbname', 'app', '--log-format', 'text'], readEnv(PREFIX));
    expect(text.code).toBe(5);
    expect(text.stdout.trim().split('\n')).toHaveLength(bad.length + 2);
    expect(text.stderr).not.toMatch(/at .*cli\.js/);
  });

  test('status names them and exits 5; its newest complete backup is the real one', async () => {
    const run = await runCli(['status', '--json'], readEnv(PREFIX));
    expect(run.code).toBe(5);
    const [row] = JSON.parse(run.stdout);
    expect(row.newest.key).toBe(realKey);
    expect(row.newerIncomplete).toHaveLength(bad.length);
    expect(row.newerIncomplete.every((a: Row) => a.status === 'invalid manifest' && a.invalid)).toBe(true);
    expect(lastEvent(run)).toMatchObject({ event: 'status.invalid', exitCode: 5 });
  });
});

test('list exits 0 when the only incomplete entries are unfinished attempts (no manifest)', async () => {
  const PREFIX = 'ct/unfinished';
  const realKey = await backup(PREFIX);
  await env.client.send(
    new PutObjectCommand({ Bucket: env.s3.bucket, Key: realKey.replace(/\.dump$/, '-2.dump'), Body: 'a dump whose run failed' }),
  );
  const run = await runCli(['list', '--dbname', 'app', '--json'], readEnv(PREFIX));
  expect(run.code).toBe(0);
  expect(rowsOf(run).map((r) => [r.status, r.invalid, r.problem])).toEqual([
    ['no manifest', false, 'no manifest: that attempt never completed (or its manifest was deleted)'],
    ['complete', false, null],
  ]);
});
