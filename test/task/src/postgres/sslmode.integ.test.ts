/**
 * The TLS mode when a URL and PGSSLMODE (or --sslmode) both give one: the stricter wins, so a
 * URL's `?sslmode=disable` cannot weaken what the operator configured, for the backup's
 * DATABASE_URL and for restore --target and verify --restore-into alike. The cluster serves no
 * TLS: a run whose effective mode demands TLS fails to connect (exit 3), one that does not
 * demand it connects.
 */
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { eventOf, runCli } from '../../../support/cli';

let env: BackupTestEnv;
let key: string;
const PREFIX = 'sslmode';

/** The backup's environment with the database given only as DATABASE_URL (no PG* connection variables). */
function urlEnv(query: string, extra: Record<string, string> = {}): Record<string, string | undefined> {
  const { PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, ...rest } = env.cliEnv('app', PREFIX);
  void [PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE];
  return { ...rest, DATABASE_URL: `${env.pg.url('app')}?${query}`, ...extra };
}

/** Environment for restore and verify: the bucket and the password, nothing about TLS unless given. */
const readEnv = (extra: Record<string, string>) => ({
  ...env.s3.env(),
  S3_ENDPOINT: env.endpoint,
  BACKUP_PREFIX: PREFIX,
  PGPASSWORD: env.pg.password,
  ...extra,
});
const target = (db: string, query: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}?${query}`;

async function exists(db: string): Promise<boolean> {
  return (await env.pg.psql(`select count(*) from pg_database where datname = '${db}'`)).trim() === '1';
}

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('app');
  await env.pg.psql('create table t (id int primary key); insert into t values (1), (2)', { database: 'app' });
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('backup: DATABASE_URL and PGSSLMODE/--sslmode', () => {
  test('control: PGSSLMODE=prefer with ?sslmode=disable connects to a server without TLS', async () => {
    const run = await runCli(['backup'], urlEnv('sslmode=disable', { PGSSLMODE: 'prefer' }));
    expect({ code: run.code, failed: run.events.find((e) => e.event === 'backup.failed')?.cause }).toEqual({ code: 0, failed: undefined });
    key = String(eventOf(run, 'backup.complete').key);
  });

  test.each([
    ['PGSSLMODE=verify-full', ['backup'], { PGSSLMODE: 'verify-full' }],
    ['--sslmode require', ['backup', '--sslmode', 'require'], {}],
  ] as const)(
    '%s is not weakened by ?sslmode=disable in DATABASE_URL: TLS is demanded, and the backup fails (exit 3)',
    async (_, args, extra) => {
      const before = await env.keys(PREFIX);
      const run = await runCli([...args], urlEnv('sslmode=disable', extra));
      expect(run.code).toBe(3);
      expect(String(eventOf(run, 'backup.failed').cause)).toMatch(/server does not support SSL, but SSL was required/);
      expect(await env.keys(PREFIX)).toEqual(before);
    },
  );

  test('PGSSLMODE=disable does not weaken ?sslmode=require in DATABASE_URL either', async () => {
    const run = await runCli(['backup'], urlEnv('sslmode=require', { PGSSLMODE: 'disable' }));
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'backup.failed').cause)).toMatch(/server does not support SSL, but SSL was required/);
  });
});

describe('restore --target and verify --restore-into: the URL and PGSSLMODE', () => {
  test('restore: PGSSLMODE=verify-full is not weakened by ?sslmode=disable in --target (exit 3, nothing created)', async () => {
    const run = await runCli(
      ['restore', '--key', key, '--target', target('never_plain', 'sslmode=disable')],
      readEnv({ PGSSLMODE: 'verify-full' }),
    );
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'restore.failed').cause)).toMatch(/server does not support SSL, but SSL was required/);
    expect(await exists('never_plain')).toBe(false);
  });

  test('verify: PGSSLMODE=require is not weakened by ?sslmode=disable in VERIFY_RESTORE_INTO_URL (exit 3, nothing created)', async () => {
    const run = await runCli(
      ['verify', '--key', key],
      readEnv({ PGSSLMODE: 'require', VERIFY_RESTORE_INTO_URL: target('never_drilled', 'sslmode=disable') }),
    );
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'verify.failed').cause)).toMatch(/server does not support SSL, but SSL was required/);
    expect(await exists('never_drilled')).toBe(false);
  });

  test('control: PGSSLMODE=prefer with ?sslmode=disable in --target restores', async () => {
    const run = await runCli(
      ['restore', '--key', key, '--target', target('plain_ok', 'sslmode=disable')],
      readEnv({ PGSSLMODE: 'prefer' }),
    );
    expect({ code: run.code, failed: run.events.find((e) => e.event === 'restore.failed')?.cause }).toEqual({ code: 0, failed: undefined });
    expect((await env.pg.psql('select count(*) from t', { database: 'plain_ok' })).trim()).toBe('2');
  });
});
