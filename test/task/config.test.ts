import { backupConfig } from '../../task/src/config/backup';
import { cgroupMemoryLimitMib } from '../../task/src/config/parse';
import { ConfigError } from '../../task/src/errors';
import { defaultShown, SETTINGS, SettingSpec } from '../../task/src/config/settings';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const base = { BACKUP_BUCKET: 'my-backups', PGDATABASE: 'app' };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('backup configuration', () => {
  test('reads libpq variables and the destination from the environment', () => {
    const c = backupConfig(
      [],
      { ...base, PGHOST: 'db.internal', PGPORT: '6432', PGUSER: 'backup', PGPASSWORD: 'pw-123456', BACKUP_PREFIX: '/proj/prod/' },
      false,
    );
    expect(c.conn.database).toBe('app');
    expect(c.conn.childEnv).toMatchObject({
      PGHOST: 'db.internal',
      PGPORT: '6432',
      PGUSER: 'backup',
      PGPASSWORD: 'pw-123456',
      PGDATABASE: 'app',
    });
    expect(c.storage).toMatchObject({ bucket: 'my-backups', prefix: 'proj/prod', checksum: 'SHA256', maxAttempts: 6 });
    expect(c.conn.display).toBe('postgres://backup:***@db.internal:6432/app');
    expect(c.logFormat).toBe('json');
  });

  test('a flag wins over its environment variable', () => {
    const c = backupConfig(['--bucket', 'other-bucket', '--queue-size=2', '--globals'], { ...base, BACKUP_QUEUE_SIZE: '8' }, false);
    expect(c.storage.bucket).toBe('other-bucket');
    expect(c.queueSize).toBe(2);
    expect(c.globals).toBe(true);
  });

  test('reports every problem at once, naming the setting and the fix', () => {
    const problems = problemsOf(() =>
      backupConfig(
        ['--frobnicate', '--port', 'x'],
        { BACKUP_QUEUE_SIZE: '0', BACKUP_GLOBALS: 'maybe', BACKUP_COMPRESS: 'brotli', S3_ENDPOINT: 'localhost:9000' },
        false,
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Unknown option '--frobnicate'/),
        expect.stringMatching(/--port must be a whole number from 1 to 65535, got 'x'/),
        expect.stringMatching(/BACKUP_QUEUE_SIZE must be a whole number from 1 to 32, got '0'/),
        expect.stringMatching(/BACKUP_GLOBALS must be true or false, got 'maybe'/),
        expect.stringMatching(/BACKUP_BUCKET \(or --bucket\) is required/),
        expect.stringMatching(/No database name: set PGDATABASE/),
        expect.stringMatching(/BACKUP_COMPRESS 'brotli'/),
        expect.stringMatching(/S3_ENDPOINT 'localhost:9000' is not an http\(s\) URL/),
      ]),
    );
    expect(problems).toHaveLength(8);
  });

  test('DATABASE_URL is split into libpq variables and never echoed', () => {
    const url = 'postgres://app%40user:s3cr%23t-pass@db.example.com:5433/orders?sslmode=require&application_name=nightly';
    const c = backupConfig([], { BACKUP_BUCKET: 'my-backups', DATABASE_URL: url }, false);
    expect(c.conn.childEnv).toMatchObject({
      PGHOST: 'db.example.com',
      PGPORT: '5433',
      PGUSER: 'app@user',
      PGPASSWORD: 's3cr#t-pass',
      PGDATABASE: 'orders',
      PGSSLMODE: 'require',
      PGAPPNAME: 'nightly',
    });
    expect(c.conn.childEnv.DATABASE_URL).toBeUndefined();
    expect(c.conn.display).toBe('postgres://app%40user:***@db.example.com:5433/orders?sslmode=require');
    expect(c.conn.secrets).toEqual(expect.arrayContaining(['s3cr#t-pass', url]));
  });

  test('a malformed DATABASE_URL is reported without showing it', () => {
    const problems = problemsOf(() =>
      backupConfig([], { BACKUP_BUCKET: 'my-backups', DATABASE_URL: 'postgres://u:hunter2-secret@[bad' }, false),
    );
    expect(problems.join('\n')).toMatch(/DATABASE_URL is not a valid URL/);
    expect(problems.join('\n')).not.toContain('hunter2-secret');
  });

  test('conflicting DATABASE_URL and PG* settings are an error, without the password', () => {
    const problems = problemsOf(() =>
      backupConfig(
        [],
        { BACKUP_BUCKET: 'my-backups', DATABASE_URL: 'postgres://u:pw-in-url@h/db1', PGDATABASE: 'db2', PGPASSWORD: 'other-password' },
        false,
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/PGDATABASE 'db1'/), expect.stringMatching(/PGPASSWORD a different password/)]),
    );
    expect(problems).toHaveLength(2);
    expect(problems.join()).not.toMatch(/pw-in-url|other-password/);
  });

  test('cloud credentials are not passed to pg_dump', () => {
    const c = backupConfig([], { ...base, AWS_SECRET_ACCESS_KEY: 'aws-secret', AWS_ACCESS_KEY_ID: 'AKIA', DATABASE_URL: undefined }, false);
    expect(c.conn.childEnv.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(c.conn.childEnv.AWS_ACCESS_KEY_ID).toBeUndefined();
    expect(c.conn.childEnv.PGCONNECT_TIMEOUT).toBe('15');
  });

  test('log format auto is text on a terminal and JSON otherwise', () => {
    expect(backupConfig([], base, true).logFormat).toBe('text');
    expect(backupConfig([], base, false).logFormat).toBe('json');
    expect(backupConfig(['--log-format', 'json'], base, true).logFormat).toBe('json');
  });

  test('memory limit comes from the cgroup when not configured', () => {
    expect(cgroupMemoryLimitMib((p) => (p === '/sys/fs/cgroup/memory.max' ? '2147483648\n' : undefined))).toBe(2048);
    expect(cgroupMemoryLimitMib((p) => (p === '/sys/fs/cgroup/memory.max' ? 'max\n' : undefined))).toBeUndefined();
    expect(cgroupMemoryLimitMib((p) => (p.includes('limit_in_bytes') ? '9223372036854771712' : undefined))).toBeUndefined();
  });
});

describe('the README', () => {
  test('its configuration reference is the settings table that --help is rendered from', () => {
    const rows = (Object.values(SETTINGS) as SettingSpec[]).map(
      (s) => `| \`--${s.flag}\` | ${s.env ? `\`${s.env}\`` : '–'} | ${s.commands.join(', ')} | ${defaultShown(s) || '–'} | ${s.help} |`,
    );
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf('| flag | variable | commands | default | meaning |');
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(start, readme.indexOf('\n\n', start)).split('\n').slice(2)).toEqual(rows);
  });
});
