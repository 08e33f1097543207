/**
 * `backup --all-databases`: every database the backup role can connect to, each an ordinary
 * backup under `<prefix>/<database>/`, one failure not stopping the others, the worst exit code,
 * skips logged, --exclude-database, the globals taken once, and `status`/`list` unchanged.
 * A real cluster with a non-superuser backup role, and a local S3 server.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { CliRun, eventOf, runCli } from '../../../support/cli';
import { Receiver, startReceiver } from '../../../support/http/receiver';
import { promtoolCheck } from '../../../support/promtool';
import { listClusterDatabases } from '../../../../task/src/postgres/databases';
import { pgTools } from '../../../../task/src/postgres/tools';

let env: BackupTestEnv;
const PREFIX = 'all/prod';
const ROLE = 'backupper';
const ROLE_PASSWORD = 'backupper-pw-5d1c';
let first: CliRun;
/** The client programs of this toolchain, with a pg_dumpall that counts its runs in `calls`. */
let binDir: string;
/** The ping and webhook receiver of the first run, and its metrics file. */
let receiver: Receiver;
const PING_TOKEN = 'ping-token-2b7e9c';
let metricsDir: string;

/** The backup role's environment; no PGDATABASE, so the list is read from `postgres`. */
const backupEnv = (extra: Record<string, string> = {}) => ({
  ...env.cliEnv('postgres', PREFIX),
  PGDATABASE: undefined,
  PGUSER: ROLE,
  PGPASSWORD: ROLE_PASSWORD,
  ...extra,
});
/** Read-side commands: the bucket, no database settings. */
const readEnv = () => ({ ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: PREFIX, PGPASSWORD: env.pg.password });
const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;

type Outcome = { database: string; status: string; exitCode: number; exitWord: string; stage?: string; cause?: string; key?: string };
const outcomesOf = (run: CliRun) => eventOf(run, 'backup.summary').outcomes as Outcome[];
const skipsOf = (run: CliRun) => run.events.filter((e) => e.event === 'backup.skip').map((e) => [e.database, e.reason]);

/** A database holding `rows` rows in `t`, readable by the backup role unless `readable` is false. */
async function createDatabase(name: string, rows: number, readable = true): Promise<void> {
  await env.pg.createDatabase(name);
  await env.pg.psql(
    `create table t (id int primary key, note text); insert into t select g, 'row ' || g from generate_series(1, ${rows}) g;
     ${readable ? `grant select on all tables in schema public to ${ROLE};` : `revoke all on t from ${ROLE};`}`,
    { database: name },
  );
}

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.psql(`create role ${ROLE} login password '${ROLE_PASSWORD}';`);
  // GIVEN three databases, one of which the backup role cannot read fully
  await createDatabase('orders', 30);
  await createDatabase('billing', 20);
  await createDatabase('audit', 5, false);
  await env.pg.psql('create table extra (x int); insert into extra values (1);', { database: 'audit' });
  await env.pg.psql(`grant select on extra to ${ROLE};`, { database: 'audit' });
  // and three it must leave out: a template, one that allows no connections, one without CONNECT for the role
  await env.pg.psql('create database tmpl is_template true;');
  await env.pg.psql('create database frozen; alter database frozen allow_connections false;');
  await env.pg.psql('create database private; revoke connect on database private from public;');
  binDir = mkdtempSync(join(tmpdir(), 'all-databases-bin-'));
  for (const p of ['pg_dump', 'pg_restore', 'psql']) symlinkSync(join(env.pg.binDir, p), join(binDir, p));
  writeFileSync(join(binDir, 'pg_dumpall'), `#!/bin/sh\necho run >> '${binDir}/calls'\nexec '${env.pg.binDir}/pg_dumpall' "$@"\n`);
  chmodSync(join(binDir, 'pg_dumpall'), 0o755);
  receiver = await startReceiver();
  metricsDir = mkdtempSync(join(tmpdir(), 'all-databases-metrics-'));
  first = await runCli(
    ['backup', '--all-databases', '--globals'],
    backupEnv({
      PG_BIN_DIR: binDir,
      BACKUP_PING_URL: `${receiver.origin}/ping/${PING_TOKEN}`,
      BACKUP_WEBHOOK_URLS: `${receiver.origin}/hook/${PING_TOKEN}`,
      BACKUP_METRICS_FILE: join(metricsDir, 'pg-s3-backup.prom'),
    }),
  );
}, 240_000);

afterAll(async () => {
  await receiver?.stop();
  if (metricsDir) rmSync(metricsDir, { recursive: true, force: true });
  await env?.stop();
  if (binDir) rmSync(binDir, { recursive: true, force: true });
});

test('the good databases are backed up, the run exits non-zero naming the one it could not read', async () => {
  expect(first.code).toBe(3);
  const outcomes = outcomesOf(first);
  expect(outcomes.map((o) => [o.database, o.status])).toEqual([
    ['audit', 'failed'],
    ['billing', 'success'],
    ['orders', 'success'],
    ['postgres', 'success'],
  ]);
  expect(outcomes[0]).toMatchObject({
    exitCode: 3,
    exitWord: 'database',
    stage: 'dump',
    cause: expect.stringMatching(/permission denied/),
  });
  const summary = eventOf(first, 'backup.summary');
  expect(summary).toMatchObject({ level: 'error', exitCode: 3, failed: ['audit'] });
  expect(String(summary.msg)).toMatch(/^1 of 4 databases failed \(audit\); the run exits 3\n/);
  expect(String(summary.msg)).toMatch(/\naudit\s+FAILED \(exit 3 database\)\s+during dump: .*permission denied/);
  // each failure is also the single backup's own failure line
  expect(first.events.filter((e) => e.event === 'backup.failed').map((e) => e.database)).toEqual(['audit']);
  // each good one is an ordinary backup in its own folder, and the failed one left nothing complete
  for (const o of outcomes.slice(1)) expect(o.key).toMatch(new RegExp(`^${PREFIX}/${o.database}/\\d{12}\\.dump$`));
  const keys = await env.keys(`${PREFIX}/`);
  expect(keys.filter((k) => k.endsWith('.manifest.json')).map((k) => k.split('/')[2])).toEqual(['billing', 'orders', 'postgres']);
  // the password never appears
  expect(first.stdout + first.stderr).not.toContain(ROLE_PASSWORD);
});

test('one run, one dead-man check: a start ping, then one fail ping naming every database; a webhook and metrics series per database', () => {
  const pings = receiver.to('/ping/').map((r) => r.path);
  expect(pings).toEqual([`/ping/${PING_TOKEN}/start`, `/ping/${PING_TOKEN}/fail`]);
  const body = receiver.to(`/ping/${PING_TOKEN}/fail`)[0].body;
  expect(body.split('\n')[0]).toMatch(/^backup of audit failed \(exit 3 database, during dump\): .*permission denied/);
  for (const db of ['billing', 'orders', 'postgres']) expect(body).toMatch(new RegExp(`^backup of ${db}: `, 'm'));
  const hooks = receiver
    .to('/hook/')
    .map((r) => JSON.parse(r.body) as { database: string; ok: boolean; exitCode: number; key: string | null });
  expect(hooks.map((h) => [h.database, h.ok, h.exitCode]).sort()).toEqual([
    ['audit', false, 3],
    ['billing', true, 0],
    ['orders', true, 0],
    ['postgres', true, 0],
  ]);
  const metrics = readFileSync(join(metricsDir, 'pg-s3-backup.prom'), 'utf8');
  expect(promtoolCheck(metrics).code).toBe(0);
  expect(metrics).toMatch(/^pg_s3_backup_last_exit_code\{database="audit"\} 3$/m);
  for (const db of ['billing', 'orders', 'postgres'])
    expect(metrics).toMatch(new RegExp(`^pg_s3_backup_last_success_timestamp_seconds\\{database="${db}"\\} \\d+`, 'm'));
  expect(metrics).not.toMatch(/last_success_timestamp_seconds\{database="audit"\}/);
  // the URLs carry a token: it appears in no output
  expect(first.stdout + first.stderr).not.toContain(PING_TOKEN);
});

test('templates, databases that allow no connections and those without CONNECT are skipped, each logged', () => {
  expect(skipsOf(first)).toEqual([
    ['frozen', 'no connections'],
    ['private', 'no connect privilege'],
    ['template0', 'template'],
    ['template1', 'template'],
    ['tmpl', 'template'],
  ]);
  const privateSkip = first.events.find((e) => e.event === 'backup.skip' && e.database === 'private')!;
  expect(privateSkip.msg).toBe(`Skipping private: the user ${ROLE} has no CONNECT privilege on it`);
});

test('the globals are taken once and stored with each backup, where restore --globals finds them', async () => {
  // pg_dumpall ran once (the role cannot read passwords: once more with --no-role-passwords)
  expect(first.events.filter((e) => e.event === 'backup.globals')).toEqual([expect.objectContaining({ noRolePasswords: true })]);
  expect(readFileSync(join(binDir, 'calls'), 'utf8')).toBe('run\nrun\n');
  const outcomes = outcomesOf(first).filter((o) => o.status === 'success');
  const globals = await Promise.all(outcomes.map((o) => env.get(o.key!.replace(/\.dump$/, '.globals.sql'))));
  expect(globals[0].toString('utf8')).toMatch(new RegExp(`CREATE ROLE ${ROLE}`));
  for (const g of globals) expect(g.equals(globals[0])).toBe(true);
});

test('the two good databases restore (one with its globals)', async () => {
  const orders = await runCli(['restore', '--latest', '--dbname', 'orders', '--globals', '--target', target('orders_restored')], readEnv());
  expect(orders.code).toBe(0);
  const billing = await runCli(['restore', '--latest', '--dbname', 'billing', '--target', target('billing_restored')], readEnv());
  expect(billing.code).toBe(0);
  expect((await env.pg.psql('select count(*), max(note) from t', { database: 'orders_restored' })).trim()).toBe('30|row 9');
  expect((await env.pg.psql('select count(*) from t', { database: 'billing_restored' })).trim()).toBe('20');
});

describe('the next run', () => {
  let second: CliRun;
  beforeAll(async () => {
    // GIVEN a database created after the first run
    await createDatabase('later', 7);
    second = await runCli(
      ['backup', '--all-databases', '--exclude-database', 'AUD*', '--exclude-database', '"*_restored"', '--exclude-database', 'nope_*'],
      backupEnv({ LOG_FORMAT: 'json' }),
    );
  }, 180_000);

  test('takes the new database, and --exclude-database leaves out what its patterns match', () => {
    expect(second.code).toBe(0);
    expect(outcomesOf(second).map((o) => [o.database, o.status])).toEqual([
      ['billing', 'success'],
      ['billing_restored', 'success'],
      ['later', 'success'],
      ['orders', 'success'],
      ['orders_restored', 'success'],
      ['postgres', 'success'],
    ]);
    // AUD* is folded to lower case and matches audit; "*_restored" is quoted, so its * is literal and matches nothing
    expect(skipsOf(second)).toContainEqual(['audit', 'excluded']);
    expect(second.events.find((e) => e.event === 'backup.skip' && e.database === 'audit')!.msg).toBe(
      'Skipping audit: excluded by --exclude-database AUD*',
    );
    expect(second.events.filter((e) => e.event === 'backup.exclude').map((e) => e.pattern)).toEqual(['"*_restored"', 'nope_*']);
    expect(eventOf(second, 'backup.summary')).toMatchObject({ level: 'info', exitCode: 0, failed: [] });
  });

  test("each pattern excludes exactly what psql's \\l lists for it (libpq's pattern rules, which pg_dumpall's are)", async () => {
    const conn = { database: 'postgres', childEnv: env.pg.env('postgres'), display: 'test', secrets: [] };
    const patterns = ['AUD*', '"*_restored"', '*_restored', 'b?lling', '(orders|later)', 'ORDERS', '"ORDERS"', 'pay$', '"Audit"'];
    const ours = await listClusterDatabases(pgTools(env.pg.binDir), conn, patterns);
    for (const pattern of patterns) {
      const listed = (await env.pg.psql(`\\l '${pattern}'`))
        .split('\n')
        .filter(Boolean)
        .map((row) => row.split('|')[0]);
      expect([pattern, ours.filter((d) => d.excludedBy.includes(pattern)).map((d) => d.name)]).toEqual([pattern, listed]);
    }
    expect(ours.filter((d) => d.excludedBy.length > 0).map((d) => d.name)).toEqual([
      'audit',
      'billing',
      'billing_restored',
      'later',
      'orders',
      'orders_restored',
    ]);
  });

  test('the summary names each outcome in the text format too', async () => {
    const text = await runCli(['backup', '--all-databases', '--exclude-database', 'audit', '--exclude-database', '*_restored'], {
      ...backupEnv({ LOG_FORMAT: 'text' }),
    });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Skipping audit: excluded by --exclude-database audit/);
    expect(text.stdout).toMatch(/All 4 databases backed up\nDATABASE\s+RESULT\s+DETAIL\n/);
    for (const db of ['billing', 'later', 'orders', 'postgres'])
      expect(text.stdout).toMatch(new RegExp(`\\n${db}\\s+ok\\s+\\S+ \\S+ in [\\d.]+ s: ${PREFIX}/${db}/\\d{12}(-\\d+)?\\.dump`));
  });

  test('status and list cover every database as they are', async () => {
    const status = await runCli(['status', '--json'], readEnv());
    expect(status.code).toBe(0);
    const rows = JSON.parse(status.stdout) as { database: string; newest: { key: string } | null }[];
    expect(rows.map((r) => r.database)).toEqual(['billing', 'billing_restored', 'later', 'orders', 'orders_restored', 'postgres']);
    for (const r of rows) expect(r.newest?.key).toMatch(new RegExp(`^${PREFIX}/${r.database}/`));
    const list = await runCli(['list', '--dbname', 'later', '--json'], readEnv());
    expect(list.code).toBe(0);
    const later = JSON.parse(list.stdout) as { key: string; status: string }[];
    expect(later.map((b) => b.status)).toEqual(['complete', 'complete']);
  });
});

test('SIGTERM during one database: exit 130, the rest named once as not attempted, and only the attempted one reported', async () => {
  // GIVEN a pg_dump that takes a while, so that the signal comes during the first database
  const slowBin = mkdtempSync(join(tmpdir(), 'all-databases-slow-'));
  for (const p of ['pg_dumpall', 'pg_restore', 'psql']) symlinkSync(join(env.pg.binDir, p), join(slowBin, p));
  writeFileSync(join(slowBin, 'pg_dump'), `#!/bin/sh\nsleep 5\nexec '${env.pg.binDir}/pg_dump' "$@"\n`);
  chmodSync(join(slowBin, 'pg_dump'), 0o755);
  const metrics = join(metricsDir, 'interrupted.prom');
  receiver.requests.length = 0;
  try {
    const run = await runCli(
      ['backup', '--all-databases', '--exclude-database', 'audit', '--exclude-database', '*_restored'],
      backupEnv({
        PG_BIN_DIR: slowBin,
        BACKUP_WEBHOOK_URLS: `${receiver.origin}/hook/${PING_TOKEN}`,
        BACKUP_METRICS_FILE: metrics,
      }),
      { onStart: (pid) => void setTimeout(() => process.kill(pid, 'SIGTERM'), 2500) },
    );
    expect(run.code).toBe(130);
    const summary = eventOf(run, 'backup.summary');
    // the first database (billing) was being backed up; the others were not attempted
    const [first, ...rest] = run.events.find((e) => e.event === 'backup.databases' && Array.isArray(e.databases))!.databases as string[];
    expect(first).toBe('billing');
    expect(rest.length).toBeGreaterThanOrEqual(2);
    expect((summary.outcomes as Outcome[]).map((o) => [o.database, o.exitCode])).toEqual([['billing', 130]]);
    expect(summary.notAttempted).toEqual(rest);
    expect(String(summary.msg)).toContain(`Interrupted before ${rest.join(', ')} (not attempted)`);
    expect(run.events.filter((e) => e.event === 'backup.skip' && /interrupted/.test(String(e.msg)))).toHaveLength(1);
    const hooks = receiver.to('/hook/').map((r) => (JSON.parse(r.body) as { database: string }).database);
    expect(hooks).toEqual(['billing']);
    const text = readFileSync(metrics, 'utf8');
    expect(text).toMatch(/\{database="billing"\}/);
    for (const db of rest) expect(text).not.toContain(`database="${db}"`);
  } finally {
    rmSync(slowBin, { recursive: true, force: true });
  }
}, 120_000);
