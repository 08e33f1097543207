/**
 * Configuration errors as the bundled CLI reports them: exit 2, in the log format asked for,
 * with no stack and no secret, and before anything is contacted. One TCP listener stands in for
 * PostgreSQL and S3 alike (it accepts and closes every connection): a run that reaches for either
 * is counted, whatever it would have done next. No PostgreSQL is started, so this suite stays in
 * the unit project; it runs the bundle that global-setup builds.
 */
import { once } from 'node:events';
import { AddressInfo, createServer, Server } from 'node:net';
import { eventOf, runCli } from '../../../support/cli';

let server: Server;
let port: number;
let connections = 0;

beforeAll(async () => {
  server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.close();
  await once(server, 'close');
});

beforeEach(() => {
  connections = 0;
});

const KEY = 'p/app/202603040405.dump';
const url = (path: string, userinfo = 'u') => `postgres://${userinfo}@127.0.0.1:${port}/${path}`;

/** Everything a run needs to reach the stand-in server at once, were its configuration accepted. */
function runEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    BACKUP_BUCKET: 'my-backups',
    S3_ENDPOINT: `http://127.0.0.1:${port}`,
    S3_MAX_ATTEMPTS: '1',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: 'u',
    PGCONNECT_TIMEOUT: '5',
    ...extra,
  };
}

describe('refused as configuration (exit 2) before anything is contacted', () => {
  // Every row has four entries (no secret: ''), or jest would pass its `done` callback as the fourth argument.
  const cases: ReadonlyArray<readonly [string, () => readonly [string[], Record<string, string>], RegExp, string]> = [
    [
      "a '%' in DATABASE_URL's password that starts no percent-encoded byte",
      () => [['backup'], { DATABASE_URL: url('app', 'u:50%off-hunter2') }],
      /^DATABASE_URL: its password has a '%' .*%25/,
      'hunter2',
    ],
    [
      "a '%' in RESTORE_TARGET_URL's user name",
      () => [['restore', '--key', KEY], { RESTORE_TARGET_URL: url('restored', 'us%er:pw-hunter2') }],
      /^RESTORE_TARGET_URL: its user name has a '%' .*%25/,
      'hunter2',
    ],
    [
      'a --dbname of 64 bytes (32 characters)',
      () => [['backup', '--dbname', 'é'.repeat(32)], {}],
      /^--dbname 'é{32}' is 64 bytes long/,
      '',
    ],
    [
      'a restore --target whose database name is 64 bytes',
      () => [['restore', '--key', KEY, '--target', url('a'.repeat(64))], {}],
      /^--target's database name 'a{64}' is 64 bytes long/,
      '',
    ],
    [
      'a verify --restore-into whose database name is 64 bytes',
      () => [['verify', '--key', KEY, '--restore-into', url('b'.repeat(64))], {}],
      /^--restore-into's database name 'b{64}' is 64 bytes long/,
      '',
    ],
    [
      "a --key with '..'",
      () => [['verify', '--key', 'p/../app/202603040405.dump'], {}],
      /^--key "p\/\.\.\/app\/202603040405\.dump" has a '\.' or '\.\.' segment/,
      '',
    ],
    [
      "a BACKUP_KEY with a leading '/'",
      () => [['restore', '--target', url('restored')], { BACKUP_KEY: `/${KEY}` }],
      /^BACKUP_KEY ".*" starts with '\/'/,
      '',
    ],
    [
      'a --key that is not a backup key',
      () => [['verify', '--key', 'p/app/notes.txt'], {}],
      /^--key "p\/app\/notes\.txt" is not a backup key/,
      '',
    ],
    ['--dbname given twice', () => [['backup', '--dbname', 'a', '--dbname', 'b'], {}], /^--dbname is given 2 times/, ''],
    [
      '--jobs given twice',
      () => [['restore', '--key', KEY, '--target', url('restored'), '--jobs', '2', '--jobs', '3'], {}],
      /^--jobs is given 2 times/,
      '',
    ],
  ];

  test.each(cases)('%s', async (_, make, problem, secret) => {
    const [args, extra] = make();
    const run = await runCli(args, runEnv(extra));
    expect({ code: run.code, problems: eventOf(run, 'config.invalid').problems }).toEqual({
      code: 2,
      problems: [expect.stringMatching(problem)],
    });
    expect(run.events.filter((e) => e.event === 'internal')).toEqual([]);
    expect(connections).toBe(0);
    if (secret !== '') expect(run.stdout + run.stderr).not.toContain(secret);
  });
});

describe('a configuration error is reported in the log format the command line asks for', () => {
  test('--log-format text, with LOG_FORMAT=json in the environment: text', async () => {
    const run = await runCli(['backup', '--log-format', 'text'], { LOG_FORMAT: 'json' });
    expect(run.code).toBe(2);
    expect(run.events).toEqual([]);
    expect(run.stdout).toMatch(
      /^\d\d:\d\d:\d\d ERROR Invalid configuration \(2 problems\):\n {2}- BACKUP_BUCKET \(or --bucket\) is required/,
    );
  });

  test('an invalid --log-format is reported in the format of LOG_FORMAT', async () => {
    const run = await runCli(['status', '--log-format', 'xml'], runEnv({ LOG_FORMAT: 'text' }));
    expect(run.code).toBe(2);
    expect(run.events).toEqual([]);
    expect(run.stdout).toMatch(/ERROR Invalid configuration \(1 problem\):\n {2}- --log-format must be one of auto, json, text; got 'xml'/);
    expect(connections).toBe(0);
  });

  test('--log-format json, with LOG_FORMAT=text in the environment: one JSON line', async () => {
    const run = await runCli(['list', '--log-format', 'json'], { LOG_FORMAT: 'text' });
    expect(run.code).toBe(2);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(eventOf(run, 'config.invalid')).toMatchObject({
      level: 'error',
      command: 'list',
      problems: [expect.stringMatching(/^BACKUP_BUCKET \(or --bucket\) is required/), expect.stringMatching(/^Name the database/)],
    });
  });
});
