/**
 * Choosing what to dump (--schema, --exclude-schema, --table, --exclude-table,
 * --exclude-table-data) end to end: real pg_dump, s3rver, and restores of what was stored.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;
let scratch: string;

const SHOP = `
create schema other;
create schema "Reporting";
create table public.orders (id int primary key, total numeric not null);
insert into public.orders select g, g * 1.5 from generate_series(1, 50) g;
create table public.audit_log (id bigserial primary key, at timestamptz not null default now(), what text not null);
create index audit_log_at on public.audit_log (at);
insert into public.audit_log (what) select 'event ' || g from generate_series(1, 200) g;
create table other.jobs (id int primary key);
insert into other.jobs select generate_series(1, 5);
create table "Reporting"."Daily" (day date primary key, orders int);
insert into "Reporting"."Daily" values ('2026-11-30', 50);
`;

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('shop');
  await env.pg.psql(SHOP, { database: 'shop' });
  scratch = mkdtempSync(join(tmpdir(), 'pg-s3-backup-selection-'));
}, 180_000);

afterAll(async () => {
  await env?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;
const readEnv = (prefix: string) => ({ ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: prefix, PGPASSWORD: env.pg.password });
const q = (sql: string, database: string) => env.pg.psql(sql, { database }).then((s) => s.trim());

describe('a partial backup', () => {
  const PREFIX = 'sel-data';
  let key: string;

  beforeAll(async () => {
    const run = await runCli(['backup', '--exclude-table-data=public.audit_log', '--exclude-schema=other'], env.cliEnv('shop', PREFIX));
    expect(run.code).toBe(0);
    key = String(eventOf(run, 'backup.complete').key);
    expect(String(eventOf(run, 'backup.complete').msg)).toContain('partial: without schemas other; without the rows of public.audit_log');
  }, 120_000);

  test('records the selection in the manifest, and list shows it', async () => {
    const manifest = JSON.parse((await env.get(key.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));
    expect(manifest.selection).toEqual({ excludeSchemas: ['other'], excludeTableData: ['public.audit_log'] });

    const json = await runCli(['list', '--dbname', 'shop', '--json'], readEnv(PREFIX));
    expect(json.code).toBe(0);
    const [row] = JSON.parse(json.stdout);
    expect(row).toMatchObject({ key, partial: true, selection: manifest.selection });

    const table = await runCli(['list', '--dbname', 'shop', '--log-format', 'text'], readEnv(PREFIX));
    expect(table.stdout).toMatch(/CONTENT\n.*partial: without schemas other; without the rows of public\.audit_log/);
  });

  test('restores the excluded table empty with its definition kept, and leaves the excluded schema out', async () => {
    const run = await runCli(['restore', '--key', key, '--target', target('shop_data')], readEnv(PREFIX));
    expect(run.code).toBe(0);
    expect(eventOf(run, 'restore.partial').msg).toContain(
      'partial backup of shop (without schemas other; without the rows of public.audit_log)',
    );
    expect(String(eventOf(run, 'restore.complete').msg)).toContain('Restored the partial backup');

    expect(await q('select count(*) from public.audit_log', 'shop_data')).toBe('0');
    // The definition is whole: columns, defaults, the index and the sequence.
    expect(
      await q(
        "select string_agg(column_name || ':' || data_type, ',' order by ordinal_position) from information_schema.columns where table_name = 'audit_log'",
        'shop_data',
      ),
    ).toBe('id:bigint,at:timestamp with time zone,what:text');
    expect(await q("select count(*) from pg_indexes where indexname = 'audit_log_at'", 'shop_data')).toBe('1');
    expect(await q("insert into public.audit_log (what) values ('after restore') returning id", 'shop_data')).toMatch(/^\d+$/);
    expect(await q('select count(*), sum(total) from public.orders', 'shop_data')).toBe(
      await q('select count(*), sum(total) from public.orders', 'shop'),
    );
    expect(await q('select count(*) from "Reporting"."Daily"', 'shop_data')).toBe('1');
    expect(await q("select count(*) from pg_namespace where nspname = 'other'", 'shop_data')).toBe('0');
  });

  test('the drill (verify --restore-into) calls it a partial backup, never the whole database', async () => {
    const run = await runCli(['verify', '--latest', '--dbname', 'shop', '--restore-into', target('shop_drill')], readEnv(PREFIX));
    expect(run.code).toBe(0);
    const ok = eventOf(run, 'verify.ok');
    expect(ok.partial).toBe(true);
    expect(String(ok.msg)).toContain(
      `Backup ${key} (a partial backup of shop (without schemas other; without the rows of public.audit_log)) is intact`,
    );
    expect(String(ok.msg)).not.toMatch(/whole database/);
    expect(String(eventOf(run, 'verify.start').msg)).toContain('a partial backup of shop');
  });
});

describe('the environment forms and quoted names', () => {
  test('BACKUP_SCHEMA takes a comma-separated list; a quoted pattern keeps its case', async () => {
    const run = await runCli(['backup'], env.cliEnv('shop', 'sel-env', { BACKUP_SCHEMA: ' "Reporting" , other' }));
    expect(run.code).toBe(0);
    const key = String(eventOf(run, 'backup.complete').key);
    const manifest = JSON.parse((await env.get(key.replace(/\.dump$/, '.manifest.json'))).toString('utf8'));
    expect(manifest.selection).toEqual({ schemas: ['"Reporting"', 'other'] });

    const restored = await runCli(['restore', '--key', key, '--target', target('shop_schemas')], readEnv('sel-env'));
    expect(restored.code).toBe(0);
    expect(
      await q(
        "select string_agg(schemaname || '.' || tablename, ',' order by 1) from pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
        'shop_schemas',
      ),
    ).toBe('Reporting.Daily,other.jobs');
  });

  test('--table dumps only the named tables', async () => {
    const run = await runCli(['backup', '--table', 'public.orders'], env.cliEnv('shop', 'sel-table'));
    expect(run.code).toBe(0);
    const key = String(eventOf(run, 'backup.complete').key);
    const restored = await runCli(['restore', '--key', key, '--target', target('shop_table')], readEnv('sel-table'));
    expect(restored.code).toBe(0);
    expect(
      await q(
        "select string_agg(schemaname || '.' || tablename, ',') from pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
        'shop_table',
      ),
    ).toBe('public.orders');
  });
});

describe('patterns that match nothing', () => {
  test('an include pattern that matches nothing fails with exit 2 before anything is stored, naming only that pattern', async () => {
    const run = await runCli(['backup', '--table', 'public.orders', '--table', 'public.order'], env.cliEnv('shop', 'sel-typo'));
    expect(run.code).toBe(2);
    const failed = eventOf(run, 'backup.failed');
    expect(failed.stage).toBe('plan');
    expect(String(failed.cause)).toMatch(/^--table=public\.order matches nothing in shop: nothing was backed up/);
    expect(await env.keys('sel-typo/')).toEqual([]);
  });

  test('an unquoted mixed-case schema folds to lower case, as pg_dump reads it, and is refused', async () => {
    const run = await runCli(['backup', '--schema', 'Reporting'], env.cliEnv('shop', 'sel-case'));
    expect(run.code).toBe(2);
    expect(String(eventOf(run, 'backup.failed').cause)).toContain('--schema=Reporting matches nothing');
    expect(await env.keys('sel-case/')).toEqual([]);
  });

  test('an exclude pattern that matches nothing is a warning, and the backup completes', async () => {
    const run = await runCli(['backup', '--exclude-table-data', 'public.audit_logs'], env.cliEnv('shop', 'sel-warn'));
    expect(run.code).toBe(0);
    const warning = run.events.find((e) => e.event === 'backup.selection' && e.level === 'warn');
    expect(warning).toMatchObject({ pattern: '--exclude-table-data=public.audit_logs' });
    expect(String(warning!.msg)).toContain('matches nothing in shop: it excludes nothing');
  });

  test('patterns reach psql and pg_dump as data: quotes, colons and backquotes are not interpreted', async () => {
    const marker = join(scratch, 'ran');
    const pattern = `it's:x\`touch ${marker}\``;
    const run = await runCli(['backup', '--exclude-table', pattern], env.cliEnv('shop', 'sel-inject'));
    expect(run.code).toBe(0);
    expect(run.events.find((e) => e.event === 'backup.selection' && e.level === 'warn')).toMatchObject({
      pattern: `--exclude-table=${pattern}`,
    });
    expect(existsSync(marker)).toBe(false);
  });
});

describe('refused before connecting', () => {
  test('--table with --schema, and an empty list item, are configuration errors listed together', async () => {
    const run = await runCli(['backup', '--table', 'public.orders', '--schema', 'public'], {
      ...env.cliEnv('shop', 'sel-bad', { BACKUP_EXCLUDE_TABLE_DATA: 'a,,b' }),
      PGPORT: '1', // nothing listens there: a connection attempt would fail differently
    });
    expect(run.code).toBe(2);
    const problems = eventOf(run, 'config.invalid').problems as string[];
    expect(problems).toEqual([
      'BACKUP_EXCLUDE_TABLE_DATA has an empty item or one with control characters: "".',
      expect.stringContaining(
        '--table / BACKUP_TABLE cannot be combined with --schema / BACKUP_SCHEMA or --exclude-schema / BACKUP_EXCLUDE_SCHEMA',
      ),
    ]);
  });
});
