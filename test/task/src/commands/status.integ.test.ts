/**
 * `status`: how old each database's newest complete backup is, and `--max-age-hours` as a
 * dead man's switch. Backups are taken with the CLI; an old one is made by copying a real
 * backup to an older stamp (as a backup taken days ago would have left it).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;
const PREFIX = 'st/prod';
let freshKey: string;

/** Copies a complete backup to `database`'s folder at `stamp`, its manifest saying it started then. */
async function copyBackup(key: string, database: string, stamp: string, options: { manifest?: boolean } = {}): Promise<string> {
  const dump = await env.get(key);
  const manifest = JSON.parse((await env.get(key.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));
  const newKey = `${PREFIX}/${database}/${stamp}.dump`;
  await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: newKey, Body: dump }));
  if (options.manifest !== false) {
    const startedAt = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(8, 10)}:${stamp.slice(10, 12)}:00.000Z`;
    await env.put(newKey.replace(/\.dump$/, '.manifest.json'), JSON.stringify({ ...manifest, database, key: newKey, startedAt }));
  }
  return newKey;
}

const stampHoursAgo = (hours: number) => {
  const d = new Date(Date.now() - hours * 3.6e6);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
};

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('orders');
  await env.pg.psql('create table t (id int); insert into t values (1);', { database: 'orders' });
  const run = await runCli(['backup'], env.cliEnv('orders', PREFIX));
  if (run.code !== 0) throw new Error(`backup failed:\n${run.stdout}\n${run.stderr}`);
  freshKey = String(eventOf(run, 'backup.complete').key);
  // billing: its newest complete backup is three days old, and a newer attempt never completed.
  await copyBackup(freshKey, 'billing', stampHoursAgo(72));
  await copyBackup(freshKey, 'billing', stampHoursAgo(2), { manifest: false });
  // a folder with no backups at all is not a database
  await env.put(`${PREFIX}/README.txt`, 'notes');
  await env.put(`${PREFIX}/scratch/notes.txt`, 'notes');
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

/** Read-only use: the bucket and prefix, no database settings. */
const readEnv = (extra: Record<string, string> = {}) => ({ ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: PREFIX, ...extra });

test('lists each database with its newest complete backup and a newer incomplete attempt', async () => {
  const run = await runCli(['status', '--json'], readEnv());
  expect(run.code).toBe(0);
  const rows = JSON.parse(run.stdout);
  expect(rows.map((r: { database: string }) => r.database)).toEqual(['billing', 'orders']);
  const [billing, orders] = rows;
  expect(billing.newest.ageHours).toBeGreaterThan(71.9);
  expect(billing.newest.ageHours).toBeLessThan(72.2);
  expect(billing.newerIncomplete).toEqual([expect.objectContaining({ status: 'no manifest' })]);
  expect(billing.stale).toBeNull();
  expect(orders.newest).toMatchObject({ key: freshKey, tier: expect.any(String), partial: false });
  expect(orders.newest.bytes).toBe((await env.get(freshKey)).length);
  expect(orders.newest.ageHours).toBeLessThan(0.2);
  expect(orders.newerIncomplete).toEqual([]);

  const text = await runCli(['status'], readEnv({ LOG_FORMAT: 'text' }));
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^DATABASE\s+NEWEST COMPLETE \(UTC\)\s+AGE\s+SIZE\s+TIER\s+NOTE\n/);
  expect(text.stdout).toMatch(
    /billing\s+\S+ \S+\s+(3d 0h|2d 23h)\s.*newer attempt st\/prod\/billing\/\d{12}\.dump is incomplete \(no manifest\)/,
  );
});

test('every attempt newer than the newest complete backup is reported, not only one', async () => {
  // GIVEN a complete backup and three later attempts that never wrote their manifest
  const prefix = 'st/attempts';
  const run = await runCli(['backup'], env.cliEnv('orders', prefix));
  expect(run.code).toBe(0);
  const key = String(eventOf(run, 'backup.complete').key);
  const attempts = [2, 3, 4].map((n) => key.replace(/\.dump$/, `-${n}.dump`));
  for (const attempt of attempts) await env.put(attempt, 'a dump whose run failed');

  // WHEN status reports THEN all three are listed, newest first, and none counts against it
  const json = await runCli(['status', '--json'], readEnv({ BACKUP_PREFIX: prefix }));
  expect(json.code).toBe(0);
  const [orders] = JSON.parse(json.stdout);
  expect(orders.newest.key).toBe(key);
  expect(orders.newerIncomplete).toEqual(
    [...attempts].reverse().map((k) => ({
      key: k,
      startedAt: expect.any(String),
      status: 'no manifest',
      invalid: false,
      problem: expect.stringMatching(/^no manifest/),
    })),
  );
  expect(orders.flagged).toBe(false);
  const text = await runCli(['status'], readEnv({ BACKUP_PREFIX: prefix, LOG_FORMAT: 'text' }));
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`3 newer attempts are incomplete; the newest ${attempts[2]} (no manifest)`);
});

test('--max-age-hours exits 6 naming every stale database, and 0 when all are fresh', async () => {
  const stale = await runCli(['status', '--max-age-hours', '26'], readEnv());
  expect(stale.code).toBe(6);
  const event = JSON.parse(stale.stderr.trim().split('\n').pop()!);
  expect(event).toMatchObject({ event: 'status.stale', exitCode: 6 });
  expect(event.msg).toMatch(
    /^1 of 2 databases have no complete backup in the last 26 hours: billing \(newest complete backup (3d 0h|2d 23h) old\)\.$/,
  );

  const json = await runCli(['status', '--max-age-hours', '26', '--json'], readEnv());
  expect(json.code).toBe(6);
  expect(JSON.parse(json.stdout).map((r: { stale: boolean }) => r.stale)).toEqual([true, false]);

  const wide = await runCli(['status', '--max-age-hours', '100'], readEnv());
  expect(wide.code).toBe(0);
  expect(wide.stdout).toMatch(/FRESH/);

  const one = await runCli(['status', '--dbname', 'orders'], readEnv({ STATUS_MAX_AGE_HOURS: '26' }));
  expect(one.code).toBe(0);
});

test('a database with no complete backup, or nothing under the prefix, is stale', async () => {
  const missing = await runCli(['status', '--dbname', 'ledger', '--max-age-hours', '26'], readEnv());
  expect(missing.code).toBe(6);
  expect(missing.stderr).toContain('ledger (no complete backup)');

  const empty = await runCli(['status', '--max-age-hours', '26'], readEnv({ BACKUP_PREFIX: 'nothing-here' }));
  expect(empty.code).toBe(6);
  expect(empty.stderr).toContain('No backups under s3://');

  const report = await runCli(['status'], readEnv({ BACKUP_PREFIX: 'nothing-here' }));
  expect(report.code).toBe(0);
});

test('a bad --max-age-hours is a configuration error', async () => {
  const run = await runCli(['status', '--max-age-hours', '0'], readEnv());
  expect(run.code).toBe(2);
  expect(run.stderr + run.stdout).toContain('--max-age-hours must be a whole number from 1 to 87600');
});
