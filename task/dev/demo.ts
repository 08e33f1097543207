/**
 * `npm run demo`: the whole job on this machine, with no AWS account. Starts a throwaway
 * PostgreSQL cluster holding a sample application database and a local S3-compatible
 * server, then runs the real CLI (task/dist/cli.js) to back up, list, verify and restore,
 * and compares the restored database with the source table by table. Everything it
 * started is stopped and deleted at the end, also on Ctrl-C. Cluster and client are the
 * newest PostgreSQL here: the 18 that task/dev/build-postgres.sh caches (the image's major)
 * when built, else the system's; it prints which client the CLI ran.
 *
 * Your own database and bucket instead: set DATABASE_URL (or PG* variables) and/or
 * BACKUP_BUCKET (+ S3_ENDPOINT for a non-AWS store) before `npm run demo`. The restore then
 * goes into a new database `<name>_demo_restore` on the same server, dropped at the end.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { diffFingerprints, fingerprintDatabase, loadSampleApp } from '../../test/support/postgres/fingerprint';
import { cachedToolchainBinDir, describeClient, startLocalPostgres } from '../../test/support/postgres/local-postgres';
import { startLocalS3 } from '../../test/support/s3/local-s3';
import { PsqlServer, psqlServer } from '../../test/support/postgres/psql';

const CLI = join(__dirname, 'cli.js');
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const started = Date.now();
const cleanups: (() => Promise<void>)[] = [];
let step = 0;
let interrupted = false;
/** The CLI run in progress, so that Ctrl-C can let it stop cleanly before the servers go. */
let current: { child: import('node:child_process').ChildProcess; closed: Promise<void> } | undefined;

function say(title: string, detail = ''): void {
  step++;
  process.stdout.write(`\n${bold(`[${step}] ${title}`)}${detail ? `\n    ${detail}` : ''}\n`);
}

/** Runs the real CLI with text logs, indenting its output under the current step. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env, LOG_FORMAT: 'text', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const indent = (c: Buffer) => c.toString().replace(/^(?=.)/gm, '    │ ');
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      process.stdout.write(indent(c));
    });
    child.stderr.on('data', (c: Buffer) => process.stdout.write(indent(c)));
    const closed = new Promise<void>((done) => child.on('close', () => done()));
    current = { child, closed };
    child.on('error', reject);
    child.on('close', (code) => {
      current = undefined;
      resolve({ code, stdout });
    });
  });
}

async function must(args: string[], env: Record<string, string>): Promise<string> {
  const t = Date.now();
  const r = await cli(args, env);
  if (r.code !== 0) throw new Error(`'pg-s3-backup ${args[0]}' exited with ${r.code}; see its output above.`);
  process.stdout.write(`    (${args[0]} took ${((Date.now() - t) / 1000).toFixed(1)} s)\n`);
  return r.stdout;
}

async function cleanup(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
}

async function main(): Promise<void> {
  const ownDb = Boolean(process.env.DATABASE_URL || process.env.PGDATABASE);
  const ownBucket = Boolean(process.env.BACKUP_BUCKET);
  let dbEnv: Record<string, string>;
  let server: PsqlServer;
  let database: string;
  let targetUrl: string;
  let clientDir: string | undefined;
  process.stdout.write(bold('pg-s3-backup demo: back up, list, verify and restore a PostgreSQL database, locally') + '\n');

  if (ownDb) {
    say('Using your database', 'from DATABASE_URL / PG* variables');
    const url = process.env.DATABASE_URL ? new URL(process.env.DATABASE_URL) : undefined;
    database = url ? decodeURIComponent(url.pathname.slice(1)) : process.env.PGDATABASE!;
    const env = url
      ? {
          PGHOST: url.hostname,
          PGPORT: url.port || '5432',
          PGUSER: decodeURIComponent(url.username),
          PGPASSWORD: decodeURIComponent(url.password),
          PGDATABASE: database,
        }
      : ({ ...process.env } as Record<string, string>);
    // Your PG_BIN_DIR, else the cached 18 for a 17+ server, else PATH's client. Not 18 for older
    // servers: pg_restore 17+ sets transaction_timeout, which they reject, so the restore would fail.
    const cached = cachedToolchainBinDir();
    const serverMajor = Math.floor(Number((await psqlServer(env, process.env.PG_BIN_DIR).psql('show server_version_num')).trim()) / 10000);
    clientDir = process.env.PG_BIN_DIR || (serverMajor >= 17 && existsSync(join(cached, 'pg_dump')) ? cached : undefined);
    server = psqlServer(env, clientDir);
    const restoreDb = `${database}_demo_restore`;
    targetUrl = `postgres://${encodeURIComponent(env.PGUSER ?? '')}@${env.PGHOST ?? 'localhost'}:${env.PGPORT ?? '5432'}/${restoreDb}`;
    dbEnv = { PGPASSWORD: env.PGPASSWORD ?? '' };
    cleanups.push(async () => void (await server.psql(`drop database if exists "${restoreDb}"`, { database: 'postgres' })));
  } else {
    say('Starting a throwaway PostgreSQL cluster', 'initdb + pg_ctl in a temp directory, random port, password authentication');
    const pg = await startLocalPostgres();
    cleanups.push(() => pg.stop());
    process.stdout.write(`    PostgreSQL ${(await pg.psql('show server_version')).trim()} on 127.0.0.1:${pg.port} (${pg.binDir})\n`);
    database = 'shop_app';
    await pg.createDatabase(database);
    const t = Date.now();
    await loadSampleApp(pg, database, { scale: 40 });
    await pg.psql(
      "create table shop.page_views as select g as id, timestamptz '2026-01-01' + g * interval '1 second' as at, md5(g::text) || md5((g * 3)::text) as session from generate_series(1, 400000) g;",
      { database },
    );
    const size = (await pg.psql('select pg_size_pretty(pg_database_size(current_database()))', { database })).trim();
    process.stdout.write(
      `    loaded sample application '${database}' (${size}: schemas, partitions, jsonb, large objects, RLS, Ünïcode names) in ${((Date.now() - t) / 1000).toFixed(1)} s\n`,
    );
    dbEnv = { ...pg.env(database) };
    // The client of the cluster's own toolchain (the cached 18 when built), unless you set PG_BIN_DIR.
    clientDir = process.env.PG_BIN_DIR || pg.binDir;
    server = pg;
    targetUrl = `postgres://${pg.user}@127.0.0.1:${pg.port}/${database}_restored`;
  }

  process.stdout.write(`    PostgreSQL client: ${describeClient(clientDir)}\n`);

  let s3Env: Record<string, string>;
  if (ownBucket) {
    say('Using your bucket', `s3://${process.env.BACKUP_BUCKET}${process.env.S3_ENDPOINT ? ` at ${process.env.S3_ENDPOINT}` : ''}`);
    s3Env = { BACKUP_PREFIX: process.env.BACKUP_PREFIX ?? 'pg-s3-backup-demo' };
  } else {
    say('Starting a local S3-compatible server', 's3rver, in-process, random port');
    const s3 = await startLocalS3({ bucket: 'demo-backups' });
    cleanups.push(() => s3.stop());
    s3Env = { ...s3.env(), BACKUP_PREFIX: 'demo' };
    process.stdout.write(`    bucket s3://${s3.bucket} at ${s3.endpoint}\n`);
  }
  const env = { ...dbEnv, ...s3Env, ...(clientDir ? { PG_BIN_DIR: clientDir } : {}) };

  say('Backing up', `pg-s3-backup backup: pg_dump -Fc streamed into S3, SHA-256 on the way, completed only if pg_dump exits 0`);
  await must(['backup', '--progress-seconds', '1', '--globals'], env);

  say('Listing the backups', 'pg-s3-backup list: a backup is complete only with its manifest');
  await must(['list', '--dbname', database], env);

  say(
    'Verifying the newest backup',
    'pg-s3-backup verify --latest: size and SHA-256 against the manifest, then pg_restore reads every block',
  );
  await must(['verify', '--latest', '--dbname', database], env);

  say('Restoring it into a new database', `pg-s3-backup restore --latest --target ${targetUrl}`);
  await must(['restore', '--latest', '--dbname', database, '--target', targetUrl], env);

  say(
    'Comparing the restored database with the source',
    'row counts and content hashes of every table, sequences, large objects, schema objects',
  );
  const restoredName = decodeURIComponent(new URL(targetUrl).pathname.slice(1));
  const [a, b] = await Promise.all([fingerprintDatabase(server, database), fingerprintDatabase(server, restoredName)]);
  const diff = diffFingerprints(a, b);
  if (diff.length > 0) throw new Error(`The restored database differs:\n  ${diff.join('\n  ')}`);
  const rows = Object.values(a.tables).reduce((n, t) => n + t.rows, 0);
  process.stdout.write(
    `    identical: ${Object.keys(a.tables).length} tables, ${rows} rows, ${Object.keys(a.sequences).length} sequences, ${Object.keys(a.largeObjects).length} large objects, ` +
      `${a.objects.view.length} views, ${a.objects.function.length} functions, ${a.objects.policy.length} RLS policies\n`,
  );
  process.stdout.write(`\n${bold(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`)} Cleaning up what the demo started.\n`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stdout.write(`\n${sig}: stopping the running command, then cleaning up…\n`);
    const running = current;
    // A terminal's Ctrl-C reaches the CLI too; a signal sent to the demo alone is passed on.
    running?.child.kill(sig);
    const waitForCli = running ? Promise.race([running.closed, new Promise((r) => setTimeout(r, 20_000))]) : Promise.resolve();
    void waitForCli.then(cleanup).then(() => process.exit(130));
  });
}

void main()
  .then(cleanup, async (err: unknown) => {
    if (interrupted) return new Promise<never>(() => undefined); // the signal handler finishes up
    process.stdout.write(`\nDemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanup();
    process.exit(1);
  })
  .then(() => process.exit(0));
