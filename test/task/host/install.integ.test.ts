/**
 * The CLI as a host installs it: `npm pack` of a copy of this checkout (so `prepack` builds
 * cli.js from the sources), `npm install -g` into a temporary prefix, then a real backup and
 * restore with the installed command. Then the host recipe of task/host: install-host.sh
 * staged with DESTDIR, the systemd units checked by `systemd-analyze verify`, and the
 * cron.d line's command run as cron runs it (`/bin/sh -c`).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupTestEnv, startBackupTestEnv } from '../../support/backup-env';
import { jsonLines } from '../../support/cli';
import { Receiver, startReceiver } from '../../support/http/receiver';
import { promtoolCheck } from '../../support/promtool';

const ROOT = join(__dirname, '..', '..', '..');
const HOST = join(ROOT, 'task', 'host');
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

let env: BackupTestEnv;
let work: string;
let prefix: string;
let tarball: string;
let packedFiles: string[];

/** PATH for the installed command: its bin directory, then the test project's PostgreSQL clients. */
const pathWith = (first: string) => [first, process.env.TEST_PG_BIN_DIR, '/usr/local/bin', '/usr/bin', '/bin'].filter(Boolean).join(':');

/**
 * Runs a program to completion without blocking the event loop: s3rver and the proxy run in
 * this process, so a synchronous spawn of a command that talks to them would never finish.
 */
function runAsync(
  program: string,
  args: string[],
  options: { env: Record<string, string | undefined> },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a local program that talks to nothing in this process (npm, tar, sh scripts, systemd-analyze). */
function run(program: string, args: string[], options: { cwd?: string; env?: Record<string, string | undefined>; input?: string } = {}) {
  const r = spawnSync(program, args, {
    cwd: options.cwd,
    env: options.env,
    input: options.input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pg-s3-backup-install-'));
  // A copy of what a clone holds (no task/dist): prepack must build cli.js itself.
  const src = join(work, 'src');
  for (const f of ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json']) cpSync(join(ROOT, f), join(src, f));
  cpSync(join(ROOT, 'task'), join(src, 'task'), { recursive: true, filter: (p) => !p.startsWith(join(ROOT, 'task', 'dist')) });
  // prepack bundles the demo and the bench too, which import the throwaway servers of test/support.
  for (const d of ['postgres', 's3']) cpSync(join(ROOT, 'test', 'support', d), join(src, 'test', 'support', d), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'));
  const packed = run('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: src,
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
  tarball = join(work, info.filename);
  packedFiles = info.files.map((f: { path: string }) => f.path).sort();
  prefix = join(work, 'prefix');
  const installed = run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], {
    env: process.env,
  });
  if (installed.code !== 0) throw new Error(`npm install -g failed: ${installed.stderr}`);
  env = await startBackupTestEnv();
  await env.pg.createDatabase('orders');
  await env.pg.psql(
    'create table items (id int primary key, name text); insert into items select g, md5(g::text) from generate_series(1, 500) g;',
    {
      database: 'orders',
    },
  );
}, 240_000);

afterAll(async () => {
  await env?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  test('the tarball holds the bundled cli.js as its only runtime file, with a bin entry and no dependencies', () => {
    expect(packedFiles).toEqual(['README.md', 'package.json', 'task/dist/cli.js']);
    const manifest = JSON.parse(run('tar', ['-xOzf', tarball, 'package/package.json']).stdout);
    expect(manifest.bin).toEqual({ 'pg-s3-backup': 'task/dist/cli.js' });
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.scripts.prepack).toBe('node task/build.mjs');
    // The packed cli.js is the one prepack built from the copied sources, and runs with plain node.
    expect(run('tar', ['-xOzf', tarball, 'package/task/dist/cli.js']).stdout.startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  test('npm install -g puts pg-s3-backup on PATH; it runs a real backup and a restore', async () => {
    const bin = join(prefix, 'bin', 'pg-s3-backup');
    const base = {
      PATH: pathWith(join(prefix, 'bin')),
      HOME: work,
      LOG_FORMAT: 'json',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    expect(run(bin, ['--version'], { env: base })).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    // …or without installing: npx runs it from the tarball.
    expect(
      run('npx', ['--yes', '--offline', '--package', tarball, 'pg-s3-backup', '--version'], {
        cwd: work,
        env: { ...process.env, npm_config_cache: join(work, 'npm-cache'), npm_config_loglevel: 'error' },
      }),
    ).toMatchObject({ code: 0, stdout: `${VERSION}\n` });

    const backup = await runAsync('pg-s3-backup', ['backup'], { env: { ...base, ...env.cliEnv('orders', 'installed') } });
    expect(backup.code).toBe(0);
    const key = String(jsonLines(backup.stdout).find((e) => e.event === 'backup.complete')!.key);
    expect(key).toMatch(/^installed\/orders\/\d{12}\.dump$/);

    const restore = await runAsync(
      'pg-s3-backup',
      ['restore', '--latest', '--dbname', 'orders', '--target', `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/orders_copy`],
      {
        env: { ...base, ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: 'installed', PGPASSWORD: env.pg.password },
      },
    );
    expect(restore.code).toBe(0);
    const check = run(join(env.pg.binDir, 'psql'), ['-XAtc', "select count(*), md5(string_agg(name, ',' order by id)) from items"], {
      env: { ...process.env, ...env.pg.env('orders_copy') },
    });
    const source = run(join(env.pg.binDir, 'psql'), ['-XAtc', "select count(*), md5(string_agg(name, ',' order by id)) from items"], {
      env: { ...process.env, ...env.pg.env('orders') },
    });
    expect(check.stdout).toBe(source.stdout);
    expect(check.stdout).toMatch(/^500\|/);
  });
});

/**
 * The cron.d file installed under `dest`: its variable lines, its one schedule line, and that
 * line's command with the installed paths under `dest` (as /bin/sh would run it there).
 */
function installedCron(dest: string): { vars: Record<string, string>; line: string; command: string } {
  const cronFile = readFileSync(join(dest, 'etc/cron.d/pg-s3-backup'), 'utf8');
  const vars = Object.fromEntries(
    cronFile
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const line = cronFile.split('\n').find((l) => /^\d/.test(l))!;
  const command = line
    .replace(/^(\S+\s+){6}/, '')
    .replaceAll('/etc/pg-s3-backup/', join(dest, 'etc/pg-s3-backup/'))
    .replaceAll('/var/log/pg-s3-backup/', join(dest, 'var/log/pg-s3-backup/'));
  return { vars, line, command };
}

describe('the host recipe (task/host)', () => {
  let dest: string;

  beforeAll(() => {
    dest = join(work, 'dest');
    for (const args of [['orders'], ['orders', '--cron']]) {
      const r = run('sh', [join(HOST, 'install-host.sh'), ...args], { env: { ...process.env, DESTDIR: dest } });
      if (r.code !== 0) throw new Error(`install-host.sh ${args.join(' ')} failed: ${r.stderr}`);
    }
  });

  test('docs/host.md shows every file of the recipe by its path, and quotes of each only lines it holds', () => {
    // The doc links each file instead of copying it; what it quotes of a unit or the cron file
    // (`Key=value` in the file's own entry) must be a line of that file as these tests run it.
    const doc = readFileSync(join(ROOT, 'docs', 'host.md'), 'utf8');
    const entries = doc.split(/\n(?=- )|\n\n/);
    for (const file of readdirSync(HOST)) {
      const link = `[\`${file}\`](../task/host/${file})`;
      const entry = entries.find((e) => e.startsWith(`- ${link}`));
      expect({ file, linked: entry !== undefined }).toEqual({ file, linked: true });
      if (file.endsWith('.sh')) continue;
      const lines = readFileSync(join(HOST, file), 'utf8').split('\n');
      const quoted = [...entry!.matchAll(/`([A-Za-z_]+=[^`]*)`/g)].map((m) => m[1]);
      expect({ file, quotes: quoted.length > 0 }).toEqual({ file, quotes: true });
      for (const q of quoted) expect({ file, quoted: q, inFile: lines.includes(q) }).toEqual({ file, quoted: q, inFile: true });
    }
  });

  const mode = (path: string) => (statSync(join(dest, path)).mode & 0o777).toString(8);

  test('install-host.sh lays out the configuration with the permissions a deploy script needs, and refuses unsafe names', () => {
    expect({
      etc: mode('etc/pg-s3-backup'),
      env: mode('etc/pg-s3-backup/orders.env'),
      pgpass: mode('etc/pg-s3-backup/pgpass'),
      logs: mode('var/log/pg-s3-backup'),
      cron: mode('etc/cron.d/pg-s3-backup'),
      logrotate: mode('etc/logrotate.d/pg-s3-backup'),
      service: mode('etc/systemd/system/pg-s3-backup@.service'),
    }).toEqual({ etc: '750', env: '640', pgpass: '600', logs: '750', cron: '644', logrotate: '644', service: '644' });
    const envFile = readFileSync(join(dest, 'etc/pg-s3-backup/orders.env'), 'utf8');
    expect(envFile).toMatch(/^PGDATABASE=orders$/m);
    expect(envFile).not.toMatch(/^BACKUP_ALL_DATABASES=/m);
    expect(envFile).not.toMatch(/^PGPASSWORD/m);
    // Run again (a second deploy): the edited environment file is kept, the cron line is not doubled.
    writeFileSync(join(dest, 'etc/pg-s3-backup/orders.env'), envFile + 'BACKUP_PREFIX=kept\n');
    expect(run('sh', [join(HOST, 'install-host.sh'), 'orders', '--cron'], { env: { ...process.env, DESTDIR: dest } }).code).toBe(0);
    expect(readFileSync(join(dest, 'etc/pg-s3-backup/orders.env'), 'utf8')).toContain('BACKUP_PREFIX=kept');
    writeFileSync(join(dest, 'etc/pg-s3-backup/orders.env'), envFile);
    expect(readFileSync(join(dest, 'etc/cron.d/pg-s3-backup'), 'utf8').match(/^0 4 /gm)).toHaveLength(1);
    for (const bad of ['a b', '../x', '-rf', 'x;y']) {
      const r = run('sh', [join(HOST, 'install-host.sh'), bad], { env: { ...process.env, DESTDIR: dest } });
      expect({ bad, code: r.code }).toEqual({ bad, code: 2 });
    }
  });

  test('systemd-analyze verify accepts the units as installed, and rejects a broken copy', () => {
    // verify checks that ExecStart programs exist: point them at the installed CLI and a hook.
    const units = join(work, 'units');
    const hook = join(work, 'on-failure');
    writeFileSync(hook, '#!/bin/sh\necho "backup of $1 failed"\n');
    chmodSync(hook, 0o755);
    cpSync(join(dest, 'etc/systemd/system'), units, { recursive: true });
    for (const unit of ['pg-s3-backup@.service', 'pg-s3-backup-failed@.service']) {
      const text = readFileSync(join(units, unit), 'utf8')
        .replaceAll('/usr/local/bin/pg-s3-backup', join(prefix, 'bin', 'pg-s3-backup'))
        .replaceAll('/etc/pg-s3-backup/on-failure', hook);
      writeFileSync(join(units, unit), text);
    }
    const instances = ['pg-s3-backup@orders.service', 'pg-s3-backup@orders.timer', 'pg-s3-backup-failed@orders.service'].map((u) =>
      join(units, u),
    );
    const verify = run('systemd-analyze', ['verify', ...instances], { env: process.env });
    expect({ code: verify.code, output: (verify.stdout + verify.stderr).trim() }).toEqual({ code: 0, output: '' });

    // The verifier is not a rubber stamp: a misspelt key fails it.
    const timer = readFileSync(join(units, 'pg-s3-backup@.timer'), 'utf8');
    writeFileSync(join(units, 'pg-s3-backup@.timer'), timer.replace('Persistent=true', 'Persistant=true'));
    const broken = run('systemd-analyze', ['verify', join(units, 'pg-s3-backup@orders.timer')], { env: process.env });
    expect(broken.stdout + broken.stderr).toMatch(/Unknown key 'Persistant' in section \[Timer\]/);
  });

  test('the timer fires at 04:00 UTC every day and catches up after downtime', () => {
    const timer = readFileSync(join(HOST, 'pg-s3-backup@.timer'), 'utf8');
    const calendar = /^OnCalendar=(.+)$/m.exec(timer)![1];
    expect(timer).toMatch(/^Persistent=true$/m);
    // Asked on a host in Tokyo: a timer without its UTC would fire at 19:00 UTC there.
    const next = run('systemd-analyze', ['calendar', '--iterations=2', calendar], { env: { ...process.env, TZ: 'Asia/Tokyo' } });
    expect(next.code).toBe(0);
    const elapses = [...next.stdout.matchAll(/\(in UTC\): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map((m) => m[1]);
    expect(elapses).toHaveLength(2);
    expect(elapses.map((e) => e.slice(11))).toEqual(['04:00:00', '04:00:00']);
    expect(Date.parse(elapses[1].replace(' ', 'T') + 'Z') - Date.parse(elapses[0].replace(' ', 'T') + 'Z')).toBe(24 * 3.6e6);
  });

  test("the cron line runs at 04:00 as the backup user, and its command backs up with the seed's key layout, logging to its file", async () => {
    const { vars, line, command } = installedCron(dest);
    const fields = line.split(/\s+/);
    expect(fields.slice(0, 6)).toEqual(['0', '4', '*', '*', '*', 'pg-s3-backup']);
    expect(line).not.toContain('%'); // cron turns % into newlines

    // The deploy script's files, filled in as an operator would: the password in the passfile only.
    // The alerts of the environment file: a ping receiver and node_exporter's directory stand in for theirs.
    const receiver: Receiver = await startReceiver();
    const metricsFile = join(work, 'pg-s3-backup.prom');
    const pgpass = join(dest, 'etc/pg-s3-backup/pgpass');
    writeFileSync(pgpass, `127.0.0.1:${env.pg.port}:*:${env.pg.user}:${env.pg.password}\n`);
    const settings = (bucket: string) =>
      [
        'PGDATABASE=orders',
        'PGHOST=127.0.0.1',
        `PGPORT=${env.pg.port}`,
        `PGUSER=${env.pg.user}`,
        `PGPASSFILE=${pgpass}`,
        `BACKUP_BUCKET=${bucket}`,
        `S3_ENDPOINT=${env.endpoint}`,
        `BACKUP_PING_URL=${receiver.origin}/ping/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d`,
        `BACKUP_METRICS_FILE=${metricsFile}`,
        ...Object.entries(env.s3.env())
          .filter(([k]) => k.startsWith('AWS_'))
          .map(([k, v]) => `${k}=${v}`),
      ].join('\n') + '\n';
    writeFileSync(join(dest, 'etc/pg-s3-backup/orders.env'), settings(env.s3.bucket));

    const cronEnv = {
      ...vars,
      PATH: vars.PATH.replace('/usr/local/bin', `${join(prefix, 'bin')}:${process.env.TEST_PG_BIN_DIR ?? ''}`),
      HOME: work,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const ok = await runAsync('/bin/sh', ['-c', command], { env: cronEnv });
    expect({ code: ok.code, mailed: ok.stdout + ok.stderr }).toEqual({ code: 0, mailed: '' });
    const log = readFileSync(join(dest, 'var/log/pg-s3-backup/orders.log'), 'utf8');
    expect(log).toMatch(/INFO\s+Backup complete: s3:\/\/\S+\/orders\/\d{12}\.dump/);
    // No prefix: <database>/<YYYYMMDDHHmm>.dump, as the cron line named its dumps.
    const keys = await env.keys('orders/');
    expect(keys.filter((k) => k.endsWith('.dump'))).toEqual([expect.stringMatching(/^orders\/\d{12}\.dump$/)]);
    expect(keys.filter((k) => k.endsWith('.manifest.json'))).toHaveLength(1);

    // A failure: the log says why, and cron gets the one line it mails.
    writeFileSync(join(dest, 'etc/pg-s3-backup/orders.env'), settings('no-such-bucket'));
    const failed = await runAsync('/bin/sh', ['-c', command], { env: cronEnv });
    expect(failed.stdout.trim()).toBe(
      `pg-s3-backup: the backup of orders failed (exit 4): see ${join(dest, 'var/log/pg-s3-backup/orders.log')}`,
    );
    expect(readFileSync(join(dest, 'var/log/pg-s3-backup/orders.log'), 'utf8')).toMatch(/ERROR\s+Backup of orders failed.*no-such-bucket/);
    // The ping saw both runs, the failure with its exit word; the metrics file has both attempts.
    await receiver.stop();
    expect(receiver.requests.map((r) => r.path.replace(/^\/ping\/[0-9a-f-]+/, ''))).toEqual(['/start', '', '/start', '/fail']);
    expect(receiver.requests[3].body).toMatch(/^backup of orders failed \(exit 4 storage, during \S+\): .*no-such-bucket/);
    const metrics = readFileSync(metricsFile, 'utf8');
    expect(promtoolCheck(metrics)).toEqual({ code: 0, output: '' });
    expect(metrics).toMatch(/^pg_s3_backup_last_exit_code\{database="orders"\} 4$/m);
    expect(metrics).toMatch(/^pg_s3_backup_last_success_timestamp_seconds\{database="orders"\} \d+$/m);
    expect(readFileSync(join(dest, 'var/log/pg-s3-backup/orders.log'), 'utf8')).not.toContain('0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d');
  });
});

describe('install-host.sh --all-databases, with the ping URL and the metrics file', () => {
  // The token of a healthchecks.io check: the installer reads it from stdin or a file, writes it
  // into the environment file, and never prints it.
  const TOKEN = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';
  let dest: string;
  let receiver: Receiver;
  let pingUrl: string;
  let metricsFile: string;
  const install = (args: string[], input?: string, at = dest) =>
    run('sh', [join(HOST, 'install-host.sh'), ...args], { env: { ...process.env, DESTDIR: at }, input });
  const mode = (path: string) => (statSync(join(dest, path)).mode & 0o777).toString(8);
  const envFile = () => readFileSync(join(dest, 'etc/pg-s3-backup/all.env'), 'utf8');

  beforeAll(async () => {
    dest = join(work, 'dest-all');
    receiver = await startReceiver();
    pingUrl = `${receiver.origin}/ping/${TOKEN}`;
    mkdirSync(join(work, 'textfile'));
    metricsFile = join(work, 'textfile', 'pg-s3-backup.prom');
  });

  afterAll(async () => {
    await receiver?.stop();
  });

  test('writes an all-databases environment file (BACKUP_ALL_DATABASES=1, no PGDATABASE) with the ping URL from stdin, never printing it', () => {
    // GIVEN the ping URL on stdin, as `--ping-url-from -` reads it (pasted, or piped from a secret store)
    const first = install(['--all-databases', '--cron', '--ping-url-from', '-', '--metrics-file', metricsFile], `${pingUrl}\n`);
    const second = install(['--all-databases'], undefined);
    // THEN
    expect({ code: first.code, leaked: (first.stdout + first.stderr).includes(TOKEN) }).toEqual({ code: 0, leaked: false });
    expect({ code: second.code, leaked: (second.stdout + second.stderr).includes(TOKEN) }).toEqual({ code: 0, leaked: false });
    const text = envFile();
    const active = text.split('\n').filter((l) => /^[A-Z_]+=/.test(l));
    expect(active.filter((l) => l.startsWith('BACKUP_ALL_DATABASES='))).toEqual(['BACKUP_ALL_DATABASES=1']);
    expect(active.filter((l) => l.startsWith('PGDATABASE='))).toEqual([]);
    expect(active.filter((l) => l.startsWith('BACKUP_PING_URL='))).toEqual([`BACKUP_PING_URL=${pingUrl}`]);
    expect(active.filter((l) => l.startsWith('BACKUP_METRICS_FILE='))).toEqual([`BACKUP_METRICS_FILE=${metricsFile}`]);
    // The file that holds the token: root's and the backup group's only, and no copy left beside it.
    expect({
      etc: mode('etc/pg-s3-backup'),
      env: mode('etc/pg-s3-backup/all.env'),
      pgpass: mode('etc/pg-s3-backup/pgpass'),
      logs: mode('var/log/pg-s3-backup'),
      cron: mode('etc/cron.d/pg-s3-backup'),
      service: mode('etc/systemd/system/pg-s3-backup@.service'),
    }).toEqual({ etc: '750', env: '640', pgpass: '600', logs: '750', cron: '644', service: '644' });
    expect(readdirSync(join(dest, 'etc/pg-s3-backup')).sort()).toEqual(['all.env', 'pgpass']);
    // One cron line, for the instance 'all', whose mailed line says what it is.
    const lines = readFileSync(join(dest, 'etc/cron.d/pg-s3-backup'), 'utf8').match(/^0 4 .*$/gm);
    expect(lines).toEqual([expect.stringContaining('. /etc/pg-s3-backup/all.env && pg-s3-backup backup;')]);
    expect(lines![0]).toContain('the all-databases backup all failed (exit $?): see /var/log/pg-s3-backup/all.log');
  });

  test('a later run sets a new ping URL from a file in place, keeping the mode and every other line', () => {
    const before = envFile();
    const newToken = '0f1e2d3c-4b5a-4697-8877-665544332211';
    const newUrl = `${receiver.origin}/other/${newToken}`;
    const file = join(work, 'ping-url');
    writeFileSync(file, `${newUrl}\n`, { mode: 0o600 });
    try {
      const r = install(['--all-databases', '--ping-url-from', file]);
      expect({ code: r.code, leaked: (r.stdout + r.stderr).includes(newToken) }).toEqual({ code: 0, leaked: false });
      const after = envFile();
      expect(after.split('\n').filter((l) => l.startsWith('BACKUP_PING_URL='))).toEqual([`BACKUP_PING_URL=${newUrl}`]);
      expect(after.replace(/^BACKUP_PING_URL=.*$/m, '')).toBe(before.replace(/^BACKUP_PING_URL=.*$/m, ''));
      expect(mode('etc/pg-s3-backup/all.env')).toBe('640');
      expect(readdirSync(join(dest, 'etc/pg-s3-backup')).sort()).toEqual(['all.env', 'pgpass']);
    } finally {
      // Back to the first URL for the run below (the installed file as the first test left it).
      writeFileSync(join(dest, 'etc/pg-s3-backup/all.env'), before);
    }
  });

  test('refuses a ping URL on the command line or one it cannot store, naming every problem, printing no URL and writing nothing', () => {
    const fresh = join(work, 'dest-refused');
    const onArgv = install(['app', '--ping-url', `https://hc-ping.com/${TOKEN}`], undefined, fresh);
    expect({ code: onArgv.code, leaked: onArgv.stderr.includes(TOKEN) }).toEqual({ code: 2, leaked: false });
    expect(onArgv.stderr).toMatch(/--ping-url-from/);
    const bad = install(['app', '--ping-url-from', '-', '--metrics-file', 'metrics.txt'], `https://user:${TOKEN}@hc-ping.com/x;y\n`, fresh);
    expect({ code: bad.code, leaked: bad.stderr.includes(TOKEN) }).toEqual({ code: 2, leaked: false });
    expect(bad.stderr).toMatch(/user or password/);
    expect(bad.stderr).toMatch(/a character other than/);
    expect(bad.stderr).toMatch(/--metrics-file 'metrics\.txt' must be an absolute path ending in \.prom/);
    const empty = install(['app', '--ping-url-from', '-'], '', fresh);
    expect(empty).toMatchObject({ code: 2, stderr: expect.stringMatching(/first line is empty/) });
    expect(existsSync(fresh)).toBe(false);
    // An environment file of a single database named 'all' is not turned into an all-databases one.
    const old = join(work, 'dest-old-all');
    expect(install(['all'], undefined, old).code).toBe(0);
    const single = readFileSync(join(old, 'etc/pg-s3-backup/all.env'), 'utf8');
    const refused = install(['--all-databases'], undefined, old);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringMatching(/is not an all-databases file/) });
    expect(readFileSync(join(old, 'etc/pg-s3-backup/all.env'), 'utf8')).toBe(single);
  });

  test('systemd-analyze verify accepts the all instance of the units', () => {
    const units = join(work, 'units-all');
    cpSync(join(dest, 'etc/systemd/system'), units, { recursive: true });
    const unit = join(units, 'pg-s3-backup@.service');
    writeFileSync(unit, readFileSync(unit, 'utf8').replaceAll('/usr/local/bin/pg-s3-backup', join(prefix, 'bin', 'pg-s3-backup')));
    const instances = ['pg-s3-backup@all.service', 'pg-s3-backup@all.timer'].map((u) => join(units, u));
    const verify = run('systemd-analyze', ['verify', ...instances], { env: process.env });
    expect({ code: verify.code, output: (verify.stdout + verify.stderr).trim() }).toEqual({ code: 0, output: '' });
  });

  test('its cron line backs up every database of the server in one run, pinging and writing each database to the metrics file', async () => {
    // GIVEN a second database, and the installer's file completed as an operator would (the
    // connection and the bucket; the installer's all-databases, ping and metrics lines kept)
    await env.pg.createDatabase('invoices');
    await env.pg.psql('create table bills (id int primary key); insert into bills select generate_series(1, 50);', {
      database: 'invoices',
    });
    const pgpass = join(dest, 'etc/pg-s3-backup/pgpass');
    writeFileSync(pgpass, `127.0.0.1:${env.pg.port}:*:${env.pg.user}:${env.pg.password}\n`);
    const installed = envFile();
    const complete = (bucket: string) =>
      installed +
      [
        'PGHOST=127.0.0.1',
        `PGPORT=${env.pg.port}`,
        `PGUSER=${env.pg.user}`,
        `PGPASSFILE=${pgpass}`,
        `BACKUP_BUCKET=${bucket}`,
        'BACKUP_PREFIX=host-all',
        `S3_ENDPOINT=${env.endpoint}`,
        ...Object.entries(env.s3.env())
          .filter(([k]) => k.startsWith('AWS_'))
          .map(([k, v]) => `${k}=${v}`),
      ].join('\n') +
      '\n';
    writeFileSync(join(dest, 'etc/pg-s3-backup/all.env'), complete(env.s3.bucket));
    const { vars, command } = installedCron(dest);
    const cronEnv = {
      ...vars,
      PATH: vars.PATH.replace('/usr/local/bin', `${join(prefix, 'bin')}:${process.env.TEST_PG_BIN_DIR ?? ''}`),
      HOME: work,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const pingsBefore = receiver.requests.length;

    // WHEN cron runs it
    const ok = await runAsync('/bin/sh', ['-c', command], { env: cronEnv });

    // THEN every database is its own backup under the prefix, and the run is reported once, naming each
    expect({ code: ok.code, mailed: ok.stdout + ok.stderr }).toEqual({ code: 0, mailed: '' });
    const dumps = (await env.keys('host-all/')).filter((k) => k.endsWith('.dump'));
    for (const db of ['invoices', 'orders', 'postgres']) {
      expect({ db, dumps: dumps.filter((k) => k.startsWith(`host-all/${db}/`)).length }).toEqual({ db, dumps: 1 });
    }
    expect(dumps.some((k) => /^host-all\/template/.test(k))).toBe(false);
    const pings = receiver.requests.slice(pingsBefore);
    expect(pings.map((r) => r.path)).toEqual([`/ping/${TOKEN}/start`, `/ping/${TOKEN}`]);
    expect(pings[1].body).toMatch(/^backup of invoices: /m);
    expect(pings[1].body).toMatch(/^backup of orders: /m);
    const metrics = readFileSync(metricsFile, 'utf8');
    expect(promtoolCheck(metrics)).toEqual({ code: 0, output: '' });
    for (const db of ['invoices', 'orders'])
      expect(metrics).toMatch(new RegExp(`^pg_s3_backup_last_exit_code\\{database="${db}"\\} 0$`, 'm'));
    const log = readFileSync(join(dest, 'var/log/pg-s3-backup/all.log'), 'utf8');
    expect(log).not.toContain(TOKEN);

    // A failing run: cron mails the one line that names the all-databases run and its log.
    writeFileSync(join(dest, 'etc/pg-s3-backup/all.env'), complete('no-such-bucket'));
    const failed = await runAsync('/bin/sh', ['-c', command], { env: cronEnv });
    expect(failed.stdout.trim()).toBe(
      `pg-s3-backup: the all-databases backup all failed (exit 4): see ${join(dest, 'var/log/pg-s3-backup/all.log')}`,
    );
    expect(receiver.requests.slice(pingsBefore + 2).map((r) => r.path)).toEqual([`/ping/${TOKEN}/start`, `/ping/${TOKEN}/fail`]);
    expect(readFileSync(join(dest, 'var/log/pg-s3-backup/all.log'), 'utf8')).not.toContain(TOKEN);
  });
});
