/**
 * Parallel backups (`backup --jobs N`) and their restore, against real PostgreSQL and moto's S3
 * server (which models multipart uploads and lists the open ones): one snapshot for every piece,
 * complete or nothing for the set, no data piece on the restore's disk, the stock-tools recipe of
 * docs/restore-runbook.md, and the same integrity guarantees as a single-stream backup.
 */
import { ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { childPids, CliRun, eventOf, runCli } from '../../../support/cli';
import { LocalMoto, startLocalMoto } from '../../../support/s3/local-moto';
import { until } from '../../../support/timing';

let env: BackupTestEnv<LocalMoto>;
const ROWS = 300_000;

beforeAll(async () => {
  env = await startBackupTestEnv({}, () => startLocalMoto());
  await env.pg.createDatabase('bank');
  // Two tables of comparable size (about 35 MB each), money moving between them. fillfactor 100
  // and full pages: an UPDATE's new row version lands in another block, often another range.
  await env.pg.psql(
    `create table acct_a (id int primary key, bal bigint not null, pad text not null);
     create table acct_b (id int primary key, bal bigint not null, pad text not null);
     insert into acct_a select g, 1000, md5(g::text) || md5((g * 3)::text) from generate_series(1, ${ROWS}) g;
     insert into acct_b select g, 1000, md5(g::text) || md5((g * 5)::text) from generate_series(1, ${ROWS}) g;
     create table churn_control (stop boolean not null); insert into churn_control values (false);
     -- A small table that follows churn_control in the rest piece (about 1.5 MB, below half a piece).
     create table notes (id int not null, body text not null);
     insert into notes select g, md5(g::text) || md5((g * 7)::text) from generate_series(1, 15000) g;
     create procedure churn() language plpgsql as $$
     declare a int; b int;
     begin
       loop
         exit when (select stop from churn_control);
         a := 1 + floor(random() * ${ROWS})::int; b := 1 + floor(random() * ${ROWS})::int;
         update acct_a set bal = bal - 7 where id = a;
         update acct_b set bal = bal + 7 where id = b;
         commit;
       end loop;
     end $$;
     vacuum analyze;`,
    { database: 'bank' },
  );
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

beforeEach(() => env.proxy.clear());

const TOTAL = String(2 * ROWS * 1000);
/** Every backup of these tests: 2 streams, pieces of about 4 MiB (so each table splits into block ranges), parts of 5 MiB. */
const PARALLEL = ['backup', '--jobs', '2', '--piece-size-mib', '4', '--part-size-mib', '5'];

async function sums(database: string): Promise<string> {
  const out = await env.pg.psql(
    `select (select sum(bal) from acct_a) + (select sum(bal) from acct_b), (select count(*) from acct_a) + (select count(*) from acct_b),
            (select count(distinct id) from acct_a) + (select count(distinct id) from acct_b)`,
    { database },
  );
  return out.trim();
}

async function openUploads(prefix: string): Promise<string[]> {
  const r = await env.client.send(new ListMultipartUploadsCommand({ Bucket: env.s3.bucket, Prefix: prefix }));
  return (r.Uploads ?? []).map((u) => u.Key!);
}

async function expectNothingComplete(run: CliRun, prefix: string): Promise<void> {
  expect(await env.keys(prefix)).toEqual([]);
  const open = await openUploads(prefix);
  if (open.length > 0) process.stderr.write(`uploads left open by the run; its log:\n${run.stdout.slice(-6000)}\n`);
  expect(open).toEqual([]);
  const listed = await runCli(['list', '--dbname', 'bank', '--json'], env.cliEnv('bank', prefix));
  expect(listed.stdout).not.toMatch(/"complete":true/);
  expect(run.stdout).not.toMatch(/Backup complete/);
}

const target = (db: string) => `postgres://${env.pg.user}@127.0.0.1:${env.pg.port}/${db}`;

function restore(
  prefix: string,
  database: string,
  extra: string[] = [],
  more: Record<string, string> = {},
  wrapper?: string[],
): Promise<CliRun> {
  return runCli(
    ['restore', '--latest', '--dbname', 'bank', '--target', target(database), ...extra],
    { ...env.cliEnv('bank', prefix), ...more },
    { timeoutMs: 180_000, wrapper },
  );
}

async function restoredDatabases(): Promise<string[]> {
  return (
    await env.pg.psql("select datname from pg_database where datname like 'pg_s3_backup_restore_%' or datname like 'par_%' order by 1")
  )
    .split('\n')
    .filter(Boolean);
}

describe('backup --jobs 2', () => {
  test('every piece reads one snapshot: money moved between the tables during the backup is restored exactly once', async () => {
    // GIVEN transfers committing continuously between acct_a and acct_b, and uploads slowed, so
    // that pieces stream (and start) while the transfers go on
    const prefix = 'snapshot';
    const churn = spawn(join(env.pg.binDir, 'psql'), ['-X', '-q', '-c', 'call churn()'], {
      env: { ...process.env, ...env.pg.env('bank') },
      stdio: 'ignore',
    });
    const churned = new Promise((r) => churn.on('close', r));
    env.proxy.addRule((req) =>
      req.operation === 'UploadPart' ? { kind: 'forward', waitFor: () => new Promise((r) => setTimeout(r, 400)) } : undefined,
    );
    try {
      await new Promise((r) => setTimeout(r, 500));
      // WHEN a parallel backup runs without compression (pieces of several parts)
      const run = await runCli([...PARALLEL, '--compress', '0'], env.cliEnv('bank', prefix), { timeoutMs: 180_000 });
      expect(run.code).toBe(0);
      const moved = await env.pg.psql('select count(*) from acct_a where bal <> 1000', { database: 'bank' });
      expect(Number(moved)).toBeGreaterThan(100); // the transfers really ran during the backup
      const manifest = JSON.parse((await env.get(eventOf(run, 'backup.complete').manifestKey as string)).toString());
      const ranges = manifest.parallel.pieces.filter((p: { range?: unknown }) => p.range !== undefined);
      expect(ranges.length).toBeGreaterThanOrEqual(4); // both tables split into block ranges
      // THEN the restored database holds every row once and exactly the money there is
      const restored = await restore(prefix, 'par_snapshot', ['--jobs', '2']);
      expect(restored.code).toBe(0);
      expect(await sums('par_snapshot')).toBe(`${TOTAL}|${2 * ROWS}|${2 * ROWS}`);
    } finally {
      await env.pg.psql('update churn_control set stop = true', { database: 'bank' });
      await churned;
      await env.pg.psql('update churn_control set stop = false', { database: 'bank' });
    }
  }, 300_000);

  test.each([
    ['on', 2],
    ['off', 1],
  ])(
    '--stream-threads %s: the pieces are streamed by %i thread(s)',
    async (setting, count) => {
      // WHEN a parallel backup of 2 streams runs
      const run = await runCli([...PARALLEL, '--stream-threads', String(setting)], env.cliEnv('bank', `threads-${setting}`), {
        timeoutMs: 180_000,
      });
      expect(run.code).toBe(0);
      // THEN on: every piece was streamed by one of 2 worker threads (the main thread's threadId
      // is 0), so that one stream's hashing, copying and sending never waits for another's; off:
      // all on the main thread
      const pieces = run.events.filter((e) => e.event === 'backup.piece');
      const manifest = JSON.parse((await env.get(eventOf(run, 'backup.complete').manifestKey as string)).toString());
      expect(pieces).toHaveLength(manifest.parallel.pieces.length + 1); // the schema, then every data piece
      const threads = new Set(pieces.map((e) => e.thread));
      expect(threads.size).toBe(count);
      for (const t of threads) expect(t).toEqual(expect.any(Number));
      expect(threads.has(0)).toBe(setting === 'off');
      expect(eventOf(run, 'backup.threads')).toMatchObject({ threads: setting === 'on' ? 2 : 0, setting });
    },
    180_000,
  );

  test('the memory check counts the worker threads: a limit the buffers fit but the threads do not is refused before any upload', async () => {
    // GIVEN the least memory a 2-stream backup on the main thread needs (the refusal names it)
    const probe = await runCli(
      [...PARALLEL, '--stream-threads', 'off'],
      env.cliEnv('bank', 'mem-probe', { BACKUP_MEMORY_LIMIT_MIB: '64' }),
    );
    expect(probe.code).toBe(2);
    const inline = Number(/need at least (\d+) MiB/.exec(String(eventOf(probe, 'backup.failed').cause))![1]);
    // WHEN the same limit is given to the backup on 2 worker threads, which each add a baseline
    const limit = { BACKUP_MEMORY_LIMIT_MIB: String(inline) };
    const before = env.proxy.count('CreateMultipartUpload') + env.proxy.count('PutObject');
    const threaded = await runCli([...PARALLEL, '--stream-threads', 'on'], env.cliEnv('bank', 'mem-threads', limit));
    // THEN it is refused up front (exit 2), naming the threads and the way out, and nothing was uploaded
    expect(threaded.code).toBe(2);
    expect(String(eventOf(threaded, 'backup.failed').cause)).toMatch(/2 worker threads x \d+ MiB.*--stream-threads off/s);
    expect(env.proxy.count('CreateMultipartUpload') + env.proxy.count('PutObject')).toBe(before);
    expect(await env.keys('mem-threads')).toEqual([]);
    // while on the main thread that limit is enough
    const offRun = await runCli([...PARALLEL, '--stream-threads', 'off'], env.cliEnv('bank', 'mem-inline', limit), { timeoutMs: 180_000 });
    expect(offRun.code).toBe(0);
  }, 240_000);
});

describe('a server that cannot share a snapshot', () => {
  test('fails before anything is uploaded, naming the cause and --jobs 1 (never an unsynchronised copy)', async () => {
    // GIVEN a role that may read every table but not export a snapshot (as a pooler in
    // transaction mode or a proxy would refuse it: pg_export_snapshot() fails)
    await env.pg.psql(
      `create role no_snapshot login password 'no-snapshot-pw'; grant select on all tables in schema public to no_snapshot;
       revoke execute on function pg_catalog.pg_export_snapshot() from public;`,
      { database: 'bank' },
    );
    try {
      const prefix = 'nosnapshot';
      const run = await runCli(PARALLEL, env.cliEnv('bank', prefix, { PGUSER: 'no_snapshot', PGPASSWORD: 'no-snapshot-pw' }));
      expect(run.code).toBe(3);
      const cause = String(eventOf(run, 'backup.failed').cause);
      expect(cause).toMatch(/needs a snapshot that its workers share/);
      expect(cause).toMatch(/permission denied for function pg_export_snapshot/);
      expect(cause).toMatch(/--jobs 1/);
      expect(env.proxy.count('PutObject') + env.proxy.count('CreateMultipartUpload')).toBe(0);
      expect(await env.keys(prefix)).toEqual([]);
    } finally {
      await env.pg.psql(
        'grant execute on function pg_catalog.pg_export_snapshot() to public; drop owned by no_snapshot; drop role no_snapshot;',
        {
          database: 'bank',
        },
      );
    }
  }, 120_000);
});

// Both ways the streams run: on worker threads, and sharing the main thread (auto picks one by the cores).
describe.each(['on', 'off'])('a parallel backup that fails leaves no backup, and no open upload (--stream-threads %s)', (threads) => {
  // Every part is held a while, so that the run is mid-stream when the fault comes.
  const slowParts = () =>
    env.proxy.addRule((req) =>
      req.operation === 'UploadPart' ? { kind: 'forward', waitFor: () => new Promise((r) => setTimeout(r, 300)) } : undefined,
    );
  const args = [...PARALLEL, '--compress', '0', '--stream-threads', threads];

  test("one worker's child killed mid-run: exit 3, no piece, no manifest, every multipart upload aborted", async () => {
    slowParts();
    const prefix = `killed-${threads}`;
    let killed: number | undefined;
    const run = await runCli(args, env.cliEnv('bank', prefix), {
      timeoutMs: 180_000,
      onStart: (pid) => {
        void until(
          () => env.proxy.count('UploadPart') >= 1 && childPids(pid, 'psql', { live: true }).length > 1,
          'parts uploading',
          60_000,
        ).then(() => {
          // The newest psql still running is a piece's COPY (the snapshot session started first). One
          // that has exited (a zombie until reaped) would take the kill and change nothing.
          killed = Math.max(...childPids(pid, 'psql', { live: true }));
          process.kill(killed, 'SIGKILL');
        });
      },
    });
    expect(killed).toBeDefined();
    expect(run.code).toBe(3);
    expect(String(eventOf(run, 'backup.failed').cause)).toMatch(/psql \(COPY\)|pg_dump/);
    await expectNothingComplete(run, prefix);
  }, 240_000);

  test('S3 failing for one piece: exit 4, no piece, no manifest, every multipart upload aborted', async () => {
    const prefix = `s3fails-${threads}`;
    // Before the slow-parts rule: the first rule that answers a request wins.
    env.proxy.addRule((req) =>
      req.operation === 'UploadPart' && req.url.includes('.part-0002.dump') ? { kind: 'respond', status: 500 } : undefined,
    );
    slowParts();
    const run = await runCli(args, env.cliEnv('bank', prefix, { S3_MAX_ATTEMPTS: '2' }), { timeoutMs: 180_000 });
    expect(run.code).toBe(4);
    await expectNothingComplete(run, prefix);
  }, 240_000);

  test("S3 refusing lib-storage's aborts: the run's own sweep aborts every upload it opened", async () => {
    const prefix = `abortfails-${threads}`;
    // The first two aborts (the failed piece's, with its one retry) fail: lib-storage gives up on it.
    env.proxy.addRule((req, n) => (req.operation === 'AbortMultipartUpload' && n <= 2 ? { kind: 'respond', status: 500 } : undefined));
    env.proxy.addRule((req) =>
      req.operation === 'UploadPart' && req.url.includes('.part-0002.dump') ? { kind: 'respond', status: 500 } : undefined,
    );
    slowParts();
    const run = await runCli(args, env.cliEnv('bank', prefix, { S3_MAX_ATTEMPTS: '2' }), { timeoutMs: 180_000 });
    expect(run.code).toBe(4);
    expect(env.proxy.count('AbortMultipartUpload')).toBeGreaterThan(2);
    await expectNothingComplete(run, prefix);
  }, 240_000);

  test('SIGTERM mid-run: exit 130, no piece, no manifest, every multipart upload aborted', async () => {
    slowParts();
    const prefix = `sigterm-${threads}`;
    const run = await runCli(args, env.cliEnv('bank', prefix), {
      timeoutMs: 180_000,
      onStart: (pid) =>
        void until(() => env.proxy.count('UploadPart') >= 2, 'parts uploading', 60_000).then(() => process.kill(pid, 'SIGTERM')),
    });
    expect(run.code).toBe(130);
    await expectNothingComplete(run, prefix);
  }, 240_000);
});

describe('restoring a parallel backup', () => {
  const prefix = 'restores';
  let dumpKey: string;

  beforeAll(async () => {
    const run = await runCli(PARALLEL, env.cliEnv('bank', prefix), { timeoutMs: 180_000 });
    expect(run.code).toBe(0);
    dumpKey = eventOf(run, 'backup.complete').key as string;
  }, 240_000);

  test('with a temp dir far smaller than the archive: the data pieces stream, only the schema is on disk', async () => {
    // GIVEN a 1 MiB tmpfs as the restore's temp dir (mounted in a mount namespace of its own), and an archive of more than 10 MiB
    const listed = await runCli(['list', '--dbname', 'bank', '--json'], env.cliEnv('bank', prefix));
    expect(JSON.parse(listed.stdout)[0].bytes).toBeGreaterThan(10 * 1024 * 1024);
    const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-tiny-'));
    try {
      const wrapper = ['unshare', '-m', 'sh', '-c', `mount -t tmpfs -o size=1m tmpfs '${dir}' && exec "$@"`, 'sh'];
      const run = await restore(prefix, 'par_nodisk', ['--jobs', '2', '--temp-dir', dir], {}, wrapper);
      expect(run.code).toBe(0);
      expect(await sums('par_nodisk')).toBe(await sums('bank'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);

  test('single-job and --jobs 2 restore the same database, indexes and constraints included', async () => {
    expect((await restore(prefix, 'par_one')).code).toBe(0);
    expect((await restore(prefix, 'par_two', ['--jobs', '2'])).code).toBe(0);
    const shape = async (db: string) =>
      (
        await env.pg.psql("select string_agg(indexname, ',' order by indexname) from pg_indexes where schemaname = 'public'", {
          database: db,
        })
      ).trim();
    expect(await shape('par_one')).toBe('acct_a_pkey,acct_b_pkey');
    expect(await shape('par_two')).toBe(await shape('par_one'));
    expect(await sums('par_one')).toBe(await sums('bank'));
    expect(await sums('par_two')).toBe(await sums('bank'));
  }, 240_000);

  test('restore --table reads the schema and the pieces of that table only, and restores that table alone', async () => {
    const parallel = JSON.parse((await env.get(dumpKey.replace(/\.dump$/, '.manifest.json'))).toString()).parallel;
    const own = parallel.pieces.filter((p: { table?: { name: string } }) => p.table?.name === 'acct_a').map((p: { key: string }) => p.key);
    expect(own.length).toBeGreaterThan(1);
    env.proxy.clear();
    const run = await restore(prefix, 'par_table', ['--jobs', '2', '--table', 'public.acct_a']);
    expect(run.code).toBe(0);
    const read = new Set(
      env.proxy.seen
        .filter((r) => r.operation === 'GetObject')
        .map((r) => decodeURIComponent(new URL(r.url, 'http://x').pathname).replace(`/${env.s3.bucket}/`, '')),
    );
    expect([...read].filter((k) => k.endsWith('.dump')).sort()).toEqual([dumpKey, ...own].sort());
    expect(
      (await env.pg.psql("select string_agg(tablename, ',') from pg_tables where schemaname = 'public'", { database: 'par_table' })).trim(),
    ).toBe('acct_a');
    expect(await env.pg.psql('select count(*), sum(bal) from acct_a', { database: 'par_table' })).toBe(
      await env.pg.psql('select count(*), sum(bal) from acct_a', { database: 'bank' }),
    );
    // A table kept with the small ones (the rest piece), ahead of another there: that piece only, and of it
    // only that table's rows. pg_restore stops reading once it has them; the piece is still read to its end
    // and checked (size, SHA-256), not failed as a broken pipe.
    env.proxy.clear();
    const small = await restore(prefix, 'par_small', ['--table', 'public.churn_control']);
    expect(small.code).toBe(0);
    const rest = parallel.pieces.filter((p: { kind: string }) => p.kind === 'rest').map((p: { key: string }) => p.key);
    expect(rest).toHaveLength(1);
    const readSmall = env.proxy.seen
      .filter((r) => r.operation === 'GetObject')
      .map((r) => decodeURIComponent(new URL(r.url, 'http://x').pathname).replace(`/${env.s3.bucket}/`, ''))
      .filter((k) => k.endsWith('.dump'));
    expect([...new Set(readSmall)].sort()).toEqual([dumpKey, ...rest].sort());
    expect(
      (await env.pg.psql("select string_agg(tablename, ',') from pg_tables where schemaname = 'public'", { database: 'par_small' })).trim(),
    ).toBe('churn_control');
    expect((await env.pg.psql('select count(*) from churn_control', { database: 'par_small' })).trim()).toBe('1');
    // A table that is not in the backup: exit 2, and nothing is left behind.
    const before = await restoredDatabases();
    const missing = await restore(prefix, 'par_missing', ['--table', 'public.acct_c']);
    expect(missing.code).toBe(2);
    expect(String(eventOf(missing, 'restore.failed').cause)).toContain('has no table "public"."acct_c"');
    expect(missing.stdout).not.toMatch(/restore\.rollback/); // refused before any database was created
    expect(await restoredDatabases()).toEqual(before);
  }, 240_000);

  test('restore --table of a single-stream backup is refused up front (exit 2): it would read the whole archive', async () => {
    const single = await runCli(['backup'], env.cliEnv('bank', 'single'), { timeoutMs: 180_000 });
    expect(single.code).toBe(0);
    const run = await restore('single', 'par_single_table', ['--table', 'public.acct_a']);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/--table reads only the pieces that hold a table/);
  }, 240_000);

  test('the drill path (verify --restore-into) restores a parallel backup with RESTORE_JOBS and reports it intact', async () => {
    // RESTORE_JOBS as the drill's container gets it (lib/restore-drill.ts: the database's jobs).
    const run = await runCli(
      ['verify', '--latest', '--dbname', 'bank', '--restore-into', target('par_drill')],
      { ...env.cliEnv('bank', prefix), RESTORE_JOBS: '2' },
      { timeoutMs: 180_000 },
    );
    expect(run.code).toBe(0);
    expect(String(eventOf(run, 'restore.start').msg)).toMatch(/ with 2 jobs into the new database /);
    expect(await sums('par_drill')).toBe(await sums('bank'));
  }, 240_000);

  test("docs/restore-runbook.md's recipe restores it with stock tools only (aws, pg_restore, psql)", async () => {
    // The recipe is the fenced block after the marker line in the runbook, run as written.
    const doc = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'restore-runbook.md'), 'utf8');
    const script = /<!-- parallel-recipe -->\s*```sh\n([\s\S]*?)```/.exec(doc)![1];
    const stem = dumpKey.replace(/\.dump$/, '');
    const s3 = env.s3.env();
    const work = mkdtempSync(join(tmpdir(), 'pg-s3-backup-byhand-'));
    execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
      env: {
        PATH: `${env.pg.binDir}:${process.env.PATH}`,
        HOME: process.env.HOME ?? '/tmp',
        ...env.pg.env('postgres'),
        AWS_ACCESS_KEY_ID: s3.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: s3.AWS_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: env.s3.endpoint,
        BUCKET: env.s3.bucket,
        STEM: stem,
        NEWDB: 'par_byhand',
        JOBS: '2',
      },
      stdio: 'pipe',
      cwd: work,
    });
    rmSync(work, { recursive: true, force: true });
    expect(await sums('par_byhand')).toBe(await sums('bank'));
  }, 240_000);

  test('a damaged piece: verify and restore exit 5 naming it; nothing is created or renamed', async () => {
    const piece = `${dumpKey.replace(/\.dump$/, '')}.part-0002.dump`;
    const good = await env.get(piece);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: piece, Body: bad }));
    try {
      const before = await restoredDatabases();
      const verified = await runCli(['verify', '--latest', '--dbname', 'bank'], env.cliEnv('bank', prefix), { timeoutMs: 180_000 });
      expect(verified.code).toBe(5);
      expect(String(eventOf(verified, 'verify.failed').cause)).toContain(`${piece}: SHA-256`);
      for (const jobs of ['1', '2']) {
        const run = await restore(prefix, `par_damaged_${jobs}`, ['--jobs', jobs]);
        expect(run.code).toBe(5);
        expect(run.stdout).toContain(piece);
      }
      expect(await restoredDatabases()).toEqual(before);
    } finally {
      await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: piece, Body: good }));
    }
  }, 240_000);

  test('SIGTERM while the data pieces stream: exit 130, the temporary database dropped, the target never created', async () => {
    // GIVEN the data pieces served slowly, so that the restore is mid-stream, its temporary database created
    const isPiece = (url: string) => /\.part-\d+\.dump$/.test(decodeURIComponent(new URL(url, 'http://s3').pathname));
    env.proxy.addRule((req) =>
      req.operation === 'GetObject' && isPiece(req.url) ? { kind: 'forward', bytesPerSecond: 256 * 1024 } : undefined,
    );
    const before = await restoredDatabases();
    let temporary: string | undefined;
    // WHEN SIGTERM arrives once a data piece is being read and the temporary database exists
    const run = await runCli(
      ['restore', '--latest', '--dbname', 'bank', '--target', target('par_sigterm'), '--jobs', '2'],
      env.cliEnv('bank', prefix),
      {
        timeoutMs: 180_000,
        onStart: (pid) => {
          void until(
            async () => {
              if (!env.proxy.seen.some((r) => r.operation === 'GetObject' && isPiece(r.url))) return false;
              temporary = (await restoredDatabases()).find((d) => !before.includes(d) && d.startsWith('pg_s3_backup_restore_'));
              return temporary !== undefined;
            },
            'a data piece streaming into the temporary database',
            60_000,
          ).then(() => process.kill(pid, 'SIGTERM'));
        },
      },
    );
    // THEN the run stops (130), and neither the temporary database nor the target is left
    expect(temporary).toBeDefined();
    expect(run.code).toBe(130);
    expect(eventOf(run, 'restore.failed')).toMatchObject({ exitCode: 130, cause: 'Interrupted by SIGTERM' });
    expect(await restoredDatabases()).toEqual(before);
  }, 240_000);

  test('a piece whose archive is another table than its manifest entry says: exit 5, nothing restored', async () => {
    const manifestKey = `${dumpKey.replace(/\.dump$/, '')}.manifest.json`;
    const original = await env.get(manifestKey);
    const manifest = JSON.parse(original.toString());
    // Two table pieces of different tables swap their claims (keys, sizes and digests stay true).
    const a = manifest.parallel.pieces.find((p: { table?: { name: string } }) => p.table?.name === 'acct_a');
    const b = manifest.parallel.pieces.find((p: { table?: { name: string } }) => p.table?.name === 'acct_b');
    [a.table, b.table] = [b.table, a.table];
    await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: manifestKey, Body: JSON.stringify(manifest) }));
    try {
      const before = await restoredDatabases();
      const run = await restore(prefix, 'par_swapped', ['--jobs', '2']);
      expect(run.code).toBe(5);
      expect(run.stdout).toMatch(/should hold the rows of/);
      expect(await restoredDatabases()).toEqual(before);
    } finally {
      await env.client.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: manifestKey, Body: original }));
    }
  }, 240_000);
});
