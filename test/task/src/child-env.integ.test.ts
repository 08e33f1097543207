/**
 * Every child the CLI starts gets only what it needs from the environment: an allow-list of
 * paths, locale and libpq's variables, and for a pg_restore that only reads an archive, not
 * even those. The CLI runs with --pg-bin-dir pointing at shims that record their environment
 * and exec the real program, in backup (with --globals and a selection), list, status, verify,
 * verify --restore-into and restore, with cloud credentials, URL variables, the CLI's own
 * settings and an unrelated secret in its environment.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupTestEnv, startBackupTestEnv } from '../../support/backup-env';
import { runCli } from '../../support/cli';

const PROGRAMS = ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql'];
/** What every child may see; libpq's PG* variables are allowed to connecting programs only. */
const BASE = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR']);
/** Added by the shim's own /bin/sh, and by coreutils' stdbuf around pg_dump: not the CLI's doing. */
const ADDED_ON_THE_WAY = new Set(['PWD', 'LD_PRELOAD', '_STDBUF_O']);

let env: BackupTestEnv;
let work: string;
let shims: string;
let records: string;

interface ChildRun {
  readonly program: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

function recorded(): ChildRun[] {
  return readdirSync(records)
    .filter((f) => f.endsWith('.env'))
    .map((f) => {
      const base = f.slice(0, -'.env'.length);
      const vars = readFileSync(join(records, f), 'utf8').split('\0').filter(Boolean);
      return {
        program: base.split('.')[0],
        args: readFileSync(join(records, `${base}.args`), 'utf8')
          .split('\0')
          .filter(Boolean),
        env: Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)])),
      };
    });
}

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('shop');
  await env.pg.psql('create table orders (id int primary key); insert into orders select generate_series(1, 10);', { database: 'shop' });
  work = mkdtempSync(join(tmpdir(), 'pg-s3-backup-child-env-'));
  shims = join(work, 'bin');
  records = join(work, 'records');
  mkdirSync(shims);
  mkdirSync(records);
  // Each shim records its environment and arguments (NUL-separated), then becomes the real program.
  for (const program of PROGRAMS) {
    const shim = join(shims, program);
    writeFileSync(
      shim,
      `#!/bin/sh\nrec="${records}/${program}.$$"\nenv -0 > "$rec.env"\nprintf '%s\\0' "$@" > "$rec.args"\nexec "${join(env.pg.binDir, program)}" "$@"\n`,
    );
    chmodSync(shim, 0o755);
  }
}, 180_000);

afterAll(async () => {
  await env?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('no child sees cloud credentials, URL variables, the CLI settings or anything unrelated; archive readers see no libpq variables', async () => {
  const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;
  const noise = {
    UNRELATED_SECRET: 'not-for-children',
    AWS_SESSION_TOKEN: 'session-token-not-for-children',
    VERIFY_RESTORE_INTO_URL: undefined,
    PG_BIN_DIR: shims,
    LC_ALL: 'C.UTF-8',
  };
  const runs: Array<[string, string[], Record<string, string | undefined>]> = [
    ['backup', ['backup', '--globals', '--exclude-table-data=public.orders'], {}],
    ['list', ['list', '--dbname', 'shop'], {}],
    ['status', ['status'], {}],
    ['verify', ['verify', '--latest', '--dbname', 'shop'], {}],
    ['verify --restore-into', ['verify', '--latest', '--dbname', 'shop'], { VERIFY_RESTORE_INTO_URL: `${env.pg.url('shop_drill')}` }],
    ['restore', ['restore', '--latest', '--dbname', 'shop', '--globals', '--target', target('shop_copy')], {}],
  ];
  for (const [name, args, extra] of runs) {
    const run = await runCli(args, env.cliEnv('shop', 'child-env', { ...noise, ...extra }));
    expect({ name, code: run.code, stderr: run.code === 0 ? '' : run.stdout + run.stderr }).toEqual({ name, code: 0, stderr: '' });
  }

  const children = recorded();
  // Every program ran, in the kinds of use the commands make of it.
  expect(new Set(children.map((c) => c.program))).toEqual(new Set(PROGRAMS));
  expect(children.length).toBeGreaterThan(10);

  const problems: string[] = [];
  for (const child of children) {
    const readsArchiveOnly = child.program === 'pg_restore' && !child.args.some((a) => a === '-d' || a.startsWith('--dbname'));
    for (const name of Object.keys(child.env)) {
      const allowed =
        BASE.has(name) || name.startsWith('LC_') || ADDED_ON_THE_WAY.has(name) || (!readsArchiveOnly && /^PG[A-Z]/.test(name));
      if (!allowed) problems.push(`${child.program} ${child.args.join(' ')}: ${name}`);
    }
  }
  expect(problems).toEqual([]);

  // And what they need did arrive: the connection (password included) for the ones that connect, the locale for all.
  const dump = children.find((c) => c.program === 'pg_dump' && c.args.includes('--format=custom'))!;
  expect(dump.env).toMatchObject({ PGDATABASE: 'shop', PGPASSWORD: env.pg.password, PGAPPNAME: 'pg-s3-backup', LC_ALL: 'C.UTF-8' });
  const reader = children.find((c) => c.program === 'pg_restore' && c.args.includes('/dev/null'))!;
  expect(reader.env.LC_ALL).toBe('C.UTF-8');
  expect(Object.keys(reader.env).filter((k) => k.startsWith('PG'))).toEqual([]);
});
