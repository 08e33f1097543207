/**
 * SIGTERM in every phase of verify and restore, as ECS sends it before SIGKILL (the drill's
 * stopTimeout is 30 s, the restore task's 120 s). The archive is served slowly through the
 * proxy (1 MiB/s for ~60 MB: a minute), as a slow link or a large archive would: a command
 * that waited for its download or its pg_restore to finish would miss the deadline. Each
 * must stop its transfer and children, clean up, log the failure (with its metric where it
 * has one) and exit 130 within seconds.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupTestEnv, createBulkDatabase, startBackupTestEnv } from '../../support/backup-env';
import { childPids, CliRun, eventOf, runCli } from '../../support/cli';

let env: BackupTestEnv;
let key: string;
let scratch: string;
const PREFIX = 'signals';
/** Well inside the drill's 30 s stopTimeout; the old behaviour needed the whole download (about 60 s here). */
const DEADLINE_MS = 10_000;

beforeAll(async () => {
  env = await startBackupTestEnv();
  await createBulkDatabase(env.pg, 'bulk', 60);
  const run = await runCli(['backup', '--compress', '0'], env.cliEnv('bulk', PREFIX));
  if (run.code !== 0) throw new Error(`backup failed:\n${run.stdout}\n${run.stderr}`);
  key = String(eventOf(run, 'backup.complete').key);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

beforeEach(() => {
  env.proxy.clear();
  env.proxy.addRule((req) =>
    req.operation === 'GetObject' && isDump(req.url) ? { kind: 'forward', bytesPerSecond: 1024 * 1024 } : undefined,
  );
  scratch = mkdtempSync(join(tmpdir(), 'pg-s3-backup-scratch-'));
});

afterEach(() => rmSync(scratch, { recursive: true, force: true }));

const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;
const readEnv = () => ({ ...env.s3.env(), S3_ENDPOINT: env.endpoint, BACKUP_PREFIX: PREFIX, PGPASSWORD: env.pg.password, TMPDIR: scratch });
const exists = async (db: string) => (await env.pg.psql(`select count(*) from pg_database where datname = '${db}'`)).trim() === '1';
/** The SDK adds a query string (`?x-id=GetObject`): look at the path. */
const isDump = (url: string) => new URL(url, 'http://x').pathname.endsWith('.dump');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pg_restore children of `pid` (the full read, or the restore itself). */
function pgRestores(pid: number): Array<{ pid: number; args: string }> {
  return childPids(pid, 'pg_restore').map((p) => {
    let args = '';
    try {
      args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      // it ended meanwhile
    }
    return { pid: p, args };
  });
}

async function until(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs the CLI, sends SIGTERM once `ready` holds (plus a moment), and says how long the exit took. */
async function terminate(args: string[], extra: Record<string, string>, ready: (pid: number) => boolean) {
  let pid = 0;
  const running = runCli(args, { ...readEnv(), ...extra }, { onStart: (p) => (pid = p), timeoutMs: 120_000 });
  await until('the CLI to start', () => pid !== 0);
  await until('the phase under test', () => ready(pid));
  await sleep(500);
  const children = [...pgRestores(pid).map((c) => c.pid), ...childPids(pid, 'psql')];
  const signalled = Date.now();
  process.kill(pid, 'SIGTERM');
  const run: CliRun = await running;
  const stoppedMs = Date.now() - signalled;
  for (const c of children) expect(() => process.kill(c, 0)).toThrow(); // no pg_restore or psql left behind
  return { run, stoppedMs };
}

const downloading = () => env.proxy.seen.some((r) => r.operation === 'GetObject' && isDump(r.url));

function expectInterrupted(run: CliRun, event: string, stage: string): void {
  expect(run.code).toBe(130);
  expect(eventOf(run, event)).toMatchObject({ exitCode: 130, stage, cause: 'Interrupted by SIGTERM' });
}

describe('SIGTERM', () => {
  test('verify, while it streams the archive into pg_restore: stops both, reports DrillFailure, exits 130', async () => {
    const { run, stoppedMs } = await terminate(['verify', '--key', key], {}, (pid) => downloading() && pgRestores(pid).length === 1);
    expectInterrupted(run, 'verify.failed', 'download');
    expect(stoppedMs).toBeLessThan(DEADLINE_MS);
    expect(run.events.find((e) => e.event === 'metrics')).toMatchObject({ DrillSuccess: 0, DrillFailure: 1 });
  });

  test('the drill (verify --restore-into), while it streams the archive into its scratch database: exits 130, nothing left, no database', async () => {
    const { run, stoppedMs } = await terminate(['verify', '--key', key, '--restore-into', target('drill_sigterm')], {}, (pid) =>
      pgRestores(pid).some((c) => c.args.includes('--single-transaction')),
    );
    expectInterrupted(run, 'verify.failed', 'restore');
    expect(stoppedMs).toBeLessThan(DEADLINE_MS);
    expect(readdirSync(scratch)).toEqual([]);
    expect(await exists('drill_sigterm')).toBe(false);
  });

  test('restore --jobs 2, while it downloads: exits 130, removes the partial download, leaves the target alone', async () => {
    // Only a parallel restore downloads first; a single-job restore streams (the next test).
    const { run, stoppedMs } = await terminate(
      ['restore', '--key', key, '--jobs', '2', '--target', target('restore_sigterm')],
      {},
      downloading,
    );
    expectInterrupted(run, 'restore.failed', 'download');
    expect(stoppedMs).toBeLessThan(DEADLINE_MS);
    expect(readdirSync(scratch)).toEqual([]);
    expect(await exists('restore_sigterm')).toBe(false);
  });

  test('restore, while it streams the archive into the target: pg_restore and psql are stopped, the transaction rolls back, exit 130', async () => {
    // GIVEN a target whose table pg_restore --clean must drop, locked by another session, so that the
    // restore is held inside its one transaction for as long as the test needs.
    env.proxy.clear();
    await env.pg.createDatabase('applying');
    await env.pg.psql('create table bulk (keep int); insert into bulk values (7);', { database: 'applying' });
    const holder = spawn(join(env.pg.binDir, 'psql'), ['-X', '-q'], {
      env: { ...process.env, ...env.pg.env('applying') },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    // Idle in its transaction (no pg_sleep): the server ends it, and frees the lock, as soon as psql is gone.
    holder.stdin.write('begin; lock table bulk in access exclusive mode;\n');
    try {
      // WHEN SIGTERM arrives while pg_restore (not the full read) is running
      const { run, stoppedMs } = await terminate(['restore', '--key', key, '--clean', '--target', target('applying')], {}, (pid) =>
        pgRestores(pid).some((c) => c.args.includes('--single-transaction')),
      );
      // THEN
      expectInterrupted(run, 'restore.failed', 'restore');
      expect(stoppedMs).toBeLessThan(DEADLINE_MS);
      expect(String(eventOf(run, 'restore.target').msg)).toMatch(/one transaction, never committed: 'applying' is as it was/);
      expect(readdirSync(scratch)).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('close', r));
    }
    expect((await env.pg.psql('select keep from bulk', { database: 'applying' })).trim()).toBe('7');
  });
});

describe('the download directory is checked before anything is contacted', () => {
  test('a missing directory: exit 2, naming it and the setting that moves it; no S3 request, no database made', async () => {
    env.proxy.clear();
    const missing = join(scratch, 'nope');
    const run = await runCli(['restore', '--key', key, '--target', target('never_scratch')], { ...readEnv(), RESTORE_TEMP_DIR: missing });
    expect(run.code).toBe(2);
    expect(String(eventOf(run, 'restore.failed').cause)).toMatch(new RegExp(`${missing} does not exist.*--temp-dir`));
    expect(env.proxy.seen).toEqual([]);
    expect(await exists('never_scratch')).toBe(false);
  });

  test('the drill with TMPDIR that is a file: exit 2 before any download', async () => {
    env.proxy.clear();
    const file = join(scratch, 'file');
    rmSync(file, { force: true });
    writeFileSync(file, '');
    const run = await runCli(['verify', '--key', key, '--restore-into', target('never_drill')], { ...readEnv(), TMPDIR: file });
    expect(run.code).toBe(2);
    expect(String(eventOf(run, 'verify.failed').cause)).toMatch(/is not a directory.*TMPDIR/);
    expect(env.proxy.seen).toEqual([]);
    expect(existsSync(file)).toBe(true);
  });
});
