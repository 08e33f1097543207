import { backupConfig } from '../../../../task/src/config/backup';
import { listConfig, restoreConfig, statusConfig, verifyConfig } from '../../../../task/src/config/readers';
import { cgroupMemoryLimitMib } from '../../../../task/src/config/parse';
import { ConfigError } from '../../../../task/src/errors';
import { defaultShown, SETTINGS, SettingSpec } from '../../../../task/src/config/settings';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliProblemsOf } from '../../../support/config-problems';

const base = { BACKUP_BUCKET: 'my-backups', PGDATABASE: 'app' };

const problemsOf = cliProblemsOf;

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

const readBase = { BACKUP_BUCKET: 'my-backups' };
const KEY = 'p/app/202603040405.dump';
/** Each command's configuration with `argv` and `env` and the least else it needs. */
const EVERY_COMMAND: ReadonlyArray<readonly [string, (argv: string[], env: NodeJS.ProcessEnv) => unknown]> = [
  ['backup', (argv, env) => backupConfig(argv, { ...readBase, ...env }, false)],
  ['list', (argv, env) => listConfig(argv, { ...readBase, ...env }, false)],
  ['status', (argv, env) => statusConfig(argv, { ...readBase, ...env }, false)],
  ['verify', (argv, env) => verifyConfig(['--latest', ...argv], { ...readBase, ...env }, false)],
  ['restore', (argv, env) => restoreConfig(['--latest', '--target', 'postgres://u@h/restored', ...argv], { ...readBase, ...env }, false)],
];

describe('database names PostgreSQL would cut or cannot hold', () => {
  const long = 'a'.repeat(64);
  // 32 characters but 64 bytes in UTF-8: the limit is in bytes (NAMEDATALEN - 1).
  const longInBytes = 'é'.repeat(32);

  test.each(EVERY_COMMAND)('%s: a --dbname or PGDATABASE over 63 bytes is refused, naming the setting', (_, config) => {
    expect(problemsOf(() => config(['--dbname', long], {}))).toEqual([
      expect.stringMatching(/^--dbname 'a{64}' is 64 bytes long.*63 bytes/),
    ]);
    expect(problemsOf(() => config([], { PGDATABASE: longInBytes }))).toEqual([
      expect.stringMatching(/^PGDATABASE 'é{32}' is 64 bytes long/),
    ]);
  });

  test.each(EVERY_COMMAND)('%s: a name of exactly 63 bytes is accepted', (_, config) => {
    expect(() => config(['--dbname', 'a'.repeat(63)], {})).not.toThrow();
    expect(() => config([], { PGDATABASE: '€'.repeat(21) })).not.toThrow(); // 3 bytes each
  });

  test.each(EVERY_COMMAND)('%s: an empty --dbname is refused, not read as "no database given"', (_, config) => {
    expect(problemsOf(() => config(['--dbname='], {}))).toEqual([expect.stringMatching(/^--dbname is empty/)]);
  });

  test("DATABASE_URL's database (its path or its dbname parameter) over 63 bytes, empty or with a NUL is refused", () => {
    const url = (path: string) => ({ DATABASE_URL: `postgres://u@h/${path}` });
    expect(problemsOf(() => backupConfig([], { ...readBase, ...url(long) }, false))).toEqual([
      expect.stringMatching(/^DATABASE_URL's database name 'a{64}' is 64 bytes long/),
    ]);
    expect(problemsOf(() => backupConfig([], { ...readBase, ...url(encodeURIComponent(longInBytes)) }, false))).toEqual([
      expect.stringMatching(/^DATABASE_URL's database name 'é{32}' is 64 bytes long/),
    ]);
    expect(problemsOf(() => backupConfig([], { ...readBase, ...url(`?dbname=${long}`) }, false))).toEqual([
      expect.stringMatching(/^DATABASE_URL's database name 'a{64}' is 64 bytes long/),
    ]);
    expect(problemsOf(() => backupConfig([], { ...readBase, ...url('app%00x') }, false))).toEqual([
      expect.stringMatching(/^DATABASE_URL's database name .*NUL/),
    ]);
    expect(problemsOf(() => backupConfig([], { ...readBase, ...url('?dbname=') }, false))).toEqual([
      expect.stringMatching(/^DATABASE_URL's database name is empty/),
    ]);
  });

  test('the database of restore --target / RESTORE_TARGET_URL and verify --restore-into / VERIFY_RESTORE_INTO_URL is checked the same way', () => {
    const url = (db: string) => `postgres://u@h/${db}`;
    const restore = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      problemsOf(() => restoreConfig(['--key', KEY, ...argv], { ...readBase, ...env }, false));
    const verify = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      problemsOf(() => verifyConfig(['--key', KEY, ...argv], { ...readBase, ...env }, false));
    expect(restore(['--target', url(long)])).toEqual([expect.stringMatching(/^--target's database name 'a{64}' is 64 bytes long/)]);
    expect(restore([], { RESTORE_TARGET_URL: url(encodeURIComponent(longInBytes)) })).toEqual([
      expect.stringMatching(/^RESTORE_TARGET_URL's database name 'é{32}' is 64 bytes long/),
    ]);
    expect(restore(['--target', url('x%00')])).toEqual([expect.stringMatching(/^--target's database name .*NUL/)]);
    expect(verify(['--restore-into', url(long)])).toEqual([
      expect.stringMatching(/^--restore-into's database name 'a{64}' is 64 bytes long/),
    ]);
    expect(verify([], { VERIFY_RESTORE_INTO_URL: url(long) })).toEqual([
      expect.stringMatching(/^VERIFY_RESTORE_INTO_URL's database name 'a{64}' is 64 bytes long/),
    ]);
    expect(restoreConfig(['--key', KEY, '--target', url('b'.repeat(63))], readBase, false).target.database).toBe('b'.repeat(63));
  });
});

describe('TLS mode: where a URL and a variable or flag both give one, the stricter wins', () => {
  test('backup: PGSSLMODE=verify-full is not weakened by ?sslmode=disable in DATABASE_URL, nor the other way round', () => {
    const mode = (env: NodeJS.ProcessEnv, argv: string[] = []) =>
      backupConfig(argv, { ...readBase, ...env }, false).conn.childEnv.PGSSLMODE;
    expect(mode({ PGSSLMODE: 'verify-full', DATABASE_URL: 'postgres://u@h/app?sslmode=disable' })).toBe('verify-full');
    expect(mode({ PGSSLMODE: 'disable', DATABASE_URL: 'postgres://u@h/app?sslmode=require' })).toBe('require');
    expect(mode({ DATABASE_URL: 'postgres://u@h/app?sslmode=verify-ca' }, ['--sslmode', 'require'])).toBe('verify-ca');
    expect(mode({ PGSSLMODE: 'verify-ca', DATABASE_URL: 'postgres://u@h/app?sslmode=allow' })).toBe('verify-ca');
    expect(mode({ PGSSLMODE: 'allow', DATABASE_URL: 'postgres://u@h/app?sslmode=prefer' })).toBe('prefer');
    expect(
      backupConfig([], { ...readBase, PGSSLMODE: 'verify-full', DATABASE_URL: 'postgres://u@h/app?sslmode=disable' }, false).conn.display,
    ).toBe('postgres://u@h/app?sslmode=verify-full');
  });

  test('restore --target and verify --restore-into: PGSSLMODE is not weakened by the URL, nor the other way round', () => {
    const target = (env: NodeJS.ProcessEnv, url: string) =>
      restoreConfig(['--key', KEY, '--target', url], { ...readBase, ...env }, false).target.childEnv.PGSSLMODE;
    expect(target({ PGSSLMODE: 'verify-full' }, 'postgres://u@h/db?sslmode=disable')).toBe('verify-full');
    expect(target({ PGSSLMODE: 'disable' }, 'postgres://u@h/db?sslmode=require')).toBe('require');
    expect(target({ PGSSLMODE: 'require' }, 'postgres://u@h/db')).toBe('require');
    const drill = verifyConfig(
      ['--key', KEY],
      { ...readBase, PGSSLMODE: 'verify-ca', VERIFY_RESTORE_INTO_URL: 'postgres://u@h/s?sslmode=prefer' },
      false,
    );
    expect(drill.restoreInto?.childEnv.PGSSLMODE).toBe('verify-ca');
  });

  test('a URL that gives sslmode twice, or a part of itself again as a parameter, is refused rather than read one way', () => {
    expect(
      problemsOf(() => backupConfig([], { ...readBase, DATABASE_URL: 'postgres://u@h/app?sslmode=verify-full&sslmode=disable' }, false)),
    ).toEqual([expect.stringMatching(/^DATABASE_URL gives the parameter 'sslmode' more than once/)]);
    expect(problemsOf(() => restoreConfig(['--key', KEY, '--target', 'postgres://u@h/db?dbname=other'], readBase, false))).toEqual([
      expect.stringMatching(/^--target gives the database name twice, in the URL and as 'dbname='/),
    ]);
    const problems = problemsOf(() => backupConfig([], { ...readBase, DATABASE_URL: 'postgres://u:pw-one@h/app?password=pw-two' }, false));
    expect(problems).toEqual([expect.stringMatching(/^DATABASE_URL gives the password twice/)]);
    expect(problems.join()).not.toMatch(/pw-one|pw-two/);
  });

  test('an sslmode that is not a libpq mode is refused, in the URL and in PGSSLMODE beside a target', () => {
    expect(problemsOf(() => backupConfig([], { ...readBase, DATABASE_URL: 'postgres://u@h/app?sslmode=verify_full' }, false))).toEqual([
      expect.stringMatching(/^DATABASE_URL has sslmode 'verify_full'.*disable, allow, prefer, require, verify-ca, verify-full/),
    ]);
    expect(
      problemsOf(() => restoreConfig(['--key', KEY, '--target', 'postgres://u@h/db'], { ...readBase, PGSSLMODE: 'on' }, false)),
    ).toEqual([expect.stringMatching(/^PGSSLMODE must be one of disable, allow, prefer, require, verify-ca, verify-full; got 'on'/)]);
  });
});

describe("a '%' that does not start a percent-encoded byte", () => {
  test.each([
    ['password', 'postgres://u:pa%zz-secret@h/app', /^DATABASE_URL: its password has a '%' that is not followed by two hex digits/],
    ['user', 'postgres://u%@h/app', /^DATABASE_URL: its user name has a '%'/],
    ['database', 'postgres://u@h/app%g1', /^DATABASE_URL: its database name \(path\) has a '%'/],
    ['parameter', 'postgres://u@h/app?application_name=50%-off', /^DATABASE_URL: its parameter 'application_name' has a '%'/],
  ])('in the %s is a configuration problem that says to write %%25, without the value', (_, url, pattern) => {
    const problems = problemsOf(() => backupConfig([], { ...readBase, DATABASE_URL: url }, false));
    expect(problems).toEqual([expect.stringMatching(pattern)]);
    expect(problems[0]).toMatch(/%25/);
    expect(problems[0]).not.toMatch(/zz-secret|u%@|app%g1|50%-off/);
  });

  test('in a target URL too', () => {
    const problems = problemsOf(() =>
      restoreConfig(['--key', KEY], { ...readBase, RESTORE_TARGET_URL: 'postgres://u:100%secret@h/db' }, false),
    );
    expect(problems).toEqual([expect.stringMatching(/^RESTORE_TARGET_URL: its password has a '%'.*%25/)]);
    expect(problems[0]).not.toContain('100%secret');
  });

  test("parameters are decoded as libpq decodes them: '+' stays '+'", () => {
    const c = backupConfig([], { ...readBase, DATABASE_URL: 'postgres://u@h/app?application_name=a+b%2Bc' }, false);
    expect(c.conn.childEnv.PGAPPNAME).toBe('a+b+c');
  });
});

describe('--key / BACKUP_KEY', () => {
  test.each([
    ['a backup key as list prints it', KEY],
    ['a later backup of the same minute', 'p/app/202603040405-2.dump'],
    ['no prefix', 'app/202603040405.dump'],
  ])('accepts %s', (_, key) => {
    expect(verifyConfig(['--key', key], readBase, false).choice.key).toBe(key);
  });

  test.each([
    ['not a backup key', 'p/app/notes.txt', /is not a backup key/],
    ['no database folder', '202603040405.dump', /is not a backup key/],
    ['a .. segment', 'p/../app/202603040405.dump', /'\.' or '\.\.' segment/],
    ['a . segment', 'p/./app/202603040405.dump', /'\.' or '\.\.' segment/],
    ['an empty segment', 'p//app/202603040405.dump', /empty segment/],
    ['a leading /', '/p/app/202603040405.dump', /starts with '\/'/],
    ['a backslash', 'p\\app/202603040405.dump', /backslash/],
    ['a control character', 'p/ap\u0007p/202603040405.dump', /control character/],
  ])('refuses %s, before anything is contacted', (_, key, pattern) => {
    for (const [command, config] of [
      ['verify', verifyConfig],
      [
        'restore',
        (argv: string[], env: NodeJS.ProcessEnv, tty: boolean) => restoreConfig([...argv, '--target', 'postgres://u@h/db'], env, tty),
      ],
    ] as const) {
      const viaFlag = problemsOf(() => config(['--key', key], readBase, false));
      expect({ command, viaFlag }).toEqual({
        command,
        viaFlag: [expect.stringMatching(new RegExp(`^--key ${pattern.source}|^--key .*${pattern.source}`))],
      });
      const viaEnv = problemsOf(() => config([], { ...readBase, BACKUP_KEY: key }, false));
      expect({ command, viaEnv }).toEqual({ command, viaEnv: [expect.stringMatching(new RegExp(`^BACKUP_KEY .*${pattern.source}`))] });
    }
  });
});

describe('verify --restore-into (the drill): jobs', () => {
  test('with --restore-into it restores with RESTORE_JOBS, as the drill container sets it beside the restore task; --jobs alone is refused', () => {
    const drillEnv = { ...readBase, VERIFY_RESTORE_INTO_URL: 'postgres://u@h/drill', RESTORE_JOBS: '4' };
    expect(verifyConfig(['--key', KEY], drillEnv, false).jobs).toBe(4);
    expect(verifyConfig(['--key', KEY, '--jobs', '2'], drillEnv, false).jobs).toBe(2);
    expect(verifyConfig(['--key', KEY], { ...readBase, VERIFY_RESTORE_INTO_URL: 'postgres://u@h/drill' }, false).jobs).toBe(1);
    // The variable is shared by every command of a container: without --restore-into it is not verify's.
    expect(verifyConfig(['--key', KEY], { ...readBase, RESTORE_JOBS: '4' }, false).restoreInto).toBeUndefined();
    expect(problemsOf(() => verifyConfig(['--key', KEY, '--jobs', '2'], readBase, false))).toEqual([
      '--jobs applies to verify only with --restore-into (the jobs of that restore); remove it, or add --restore-into.',
    ]);
    expect(problemsOf(() => verifyConfig(['--key', KEY], { ...drillEnv, RESTORE_JOBS: '0' }, false))).toEqual([
      "RESTORE_JOBS must be a whole number from 1 to 64, got '0'.",
    ]);
  });
});

describe('a single-valued flag given twice', () => {
  test.each([
    ['backup', () => backupConfig(['--dbname', 'a', '--dbname', 'b'], readBase, false), '--dbname'],
    ['restore', () => restoreConfig(['--key', KEY, '--target', 'postgres://u@h/db', '--jobs', '2', '--jobs=3'], readBase, false), '--jobs'],
    ['backup', () => backupConfig(['--globals', '--globals'], { ...base }, false), '--globals'],
    ['list', () => listConfig(['--dbname', 'app', '--log-format', 'text', '--log-format=json'], readBase, false), '--log-format'],
  ])('%s: is refused, naming the flag', (_, config, flag) => {
    expect(problemsOf(config)).toEqual([expect.stringMatching(new RegExp(`^${flag} is given 2 times`))]);
  });

  test('a repeatable (list) flag stays repeatable', () => {
    expect(backupConfig(['--schema', 'a', '--schema', 'b'], base, false).selection?.schemas).toEqual(['a', 'b']);
  });
});

describe('a configuration error carries the log format it is to be reported in', () => {
  const formatOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) return err.logFormat;
      throw err;
    }
    throw new Error('expected a ConfigError');
  };
  test.each(EVERY_COMMAND)('%s: --log-format on the command line, else LOG_FORMAT', (_, config) => {
    const broken = { BACKUP_BUCKET: 'Not A Bucket' };
    expect(formatOf(() => config(['--log-format', 'text'], { ...broken, LOG_FORMAT: 'json' }))).toBe('text');
    expect(formatOf(() => config(['--log-format', 'json'], { ...broken, LOG_FORMAT: 'text' }))).toBe('json');
    expect(formatOf(() => config([], { ...broken, LOG_FORMAT: 'text' }))).toBe('text');
    // Not given validly: the caller keeps the format it started with.
    expect(formatOf(() => config(['--log-format', 'xml'], { ...broken, LOG_FORMAT: 'text' }))).toBeUndefined();
    expect(formatOf(() => config([], broken))).toBeUndefined();
  });
});

describe('docs/configuration.md', () => {
  test('its table of the CLI settings is the settings table that --help is rendered from', () => {
    const rows = (Object.values(SETTINGS) as SettingSpec[]).map(
      (s) => `| \`--${s.flag}\` | ${s.env ? `\`${s.env}\`` : '–'} | ${s.commands.join(', ')} | ${defaultShown(s) || '–'} | ${s.help} |`,
    );
    const doc = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'configuration.md'), 'utf8');
    const start = doc.indexOf('| flag | variable | commands | default | meaning |');
    expect(start).toBeGreaterThan(0);
    expect(doc.slice(start, doc.indexOf('\n\n', start)).split('\n').slice(2)).toEqual(rows);
  });
});
