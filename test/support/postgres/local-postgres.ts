import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { psqlServer } from './psql';

/**
 * A throwaway PostgreSQL cluster for tests, the demo and the benchmark: initdb and pg_ctl
 * from the system's PostgreSQL binaries in a temp dir, on a random port of 127.0.0.1,
 * with real password (SCRAM) authentication. Never a server that happens to be running.
 */
export interface LocalPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Directory of the server and client binaries used (initdb, pg_ctl, psql, pg_dump…). */
  readonly binDir: string;
  readonly dataDir: string;
  /** libpq variables for `database` (default 'postgres'), password included. */
  env(database?: string): Record<string, string>;
  /** postgres://user:password@127.0.0.1:port/database */
  url(database?: string): string;
  /** Runs SQL with psql (stops at the first error) and returns its unaligned, tuples-only output. */
  psql(sql: string, options?: { database?: string }): Promise<string>;
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  /** Stops the server and removes its files. Idempotent. */
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Directory holding initdb and pg_ctl. @default TEST_PG_BIN_DIR, else the newest of /usr/lib/postgresql/N/bin and the cached 18 */
  readonly binDir?: string;
  /** @default a random password */
  readonly password?: string;
  /** @default 'postgres' */
  readonly superuser?: string;
  /** Extra server settings (postgresql.conf names). */
  readonly settings?: Record<string, string>;
  /**
   * Serve TLS with a throwaway self-signed certificate (openssl), so that clients can keep
   * `sslmode=require` as deployed; `env()` then says `PGSSLMODE=require`. @default false
   */
  readonly ssl?: boolean;
}

const INSTALL_HINT =
  'Install them: sudo apt-get install -y postgresql postgresql-client (Debian/Ubuntu), or build PostgreSQL 18 with task/dev/build-postgres.sh, or set TEST_PG_BIN_DIR to a directory holding initdb and pg_ctl.';

/**
 * The bin directory of the PostgreSQL 18 that task/dev/build-postgres.sh builds into its cache
 * (built or not). The script owns the cache layout ($XDG_CACHE_HOME, root's /var/cache): it is
 * asked rather than repeated. From source (test/support/postgres) it is
 * ../../../task/dev/build-postgres.sh; from the bundles in task/dist, ../dev/build-postgres.sh.
 */
export function cachedToolchainBinDir(): string {
  const script = [
    join(__dirname, '..', '..', '..', 'task', 'dev', 'build-postgres.sh'),
    join(__dirname, '..', 'dev', 'build-postgres.sh'),
  ].find((f) => existsSync(f))!;
  return spawnSync('bash', [script, '--print'], { encoding: 'utf8' }).stdout.trim();
}

/** Finds the server binaries, or throws with install instructions (no silent skip). */
export function findServerBinDir(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  else if (process.env.TEST_PG_BIN_DIR) candidates.push(process.env.TEST_PG_BIN_DIR);
  else {
    // The newest major first: Debian's /usr/lib/postgresql/N, or the 18 built into the cache
    // (the image's major), so that the demo and the bench use 18 once it is built.
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
    const dirs = versions.map((v) => ({ major: Number(v), dir: join(root, v, 'bin') }));
    if (existsSync(cachedToolchainBinDir())) dirs.push({ major: 18, dir: cachedToolchainBinDir() });
    candidates.push(...dirs.sort((a, b) => b.major - a.major).map((d) => d.dir));
    const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
    if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
  }
  const found = candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
  if (!found)
    throw new Error(
      `PostgreSQL server binaries (initdb, pg_ctl) not found${candidates.length ? ` in ${candidates.join(', ')}` : ''}. ${INSTALL_HINT}`,
    );
  return found;
}

/**
 * For the demo and the bench: the pg_dump of `binDir` (PATH when undefined) and where it is
 * from, plus how to get the image's 18 when this is an older one and 18 is not built.
 */
export function describeClient(binDir: string | undefined): string {
  const r = spawnSync(binDir ? join(binDir, 'pg_dump') : 'pg_dump', ['--version'], { encoding: 'utf8' });
  const version = r.status === 0 ? r.stdout.trim() : 'pg_dump (not runnable)';
  const major = Number(/\) (\d+)/.exec(version)?.[1] ?? 0);
  const hint =
    major < 18 && !existsSync(join(cachedToolchainBinDir(), 'pg_dump'))
      ? '; the image runs 18: task/dev/build-postgres.sh builds it (about 3 min), then this uses it'
      : '';
  return `${version} from ${binDir ?? 'PATH'}${hint}`;
}

/** initdb refuses to run as root: as root, run the server as the `postgres` system user. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      "Running as root, and there is no 'postgres' system user to run initdb as (initdb refuses root). Install the postgresql package, which creates it, or run as a normal user.",
    );
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function run(
  command: string,
  args: string[],
  as: { uid: number; gid: number } | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], uid: as?.uid, gid: as?.gid });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const running = new Set<{ pgCtl: string; dataDir: string; dir: string; as?: { uid: number; gid: number } }>();
process.once('exit', () => {
  // Best effort: an interrupted demo or test run must not leave a postmaster behind.
  for (const c of running) {
    spawnSync(c.pgCtl, ['stop', '-D', c.dataDir, '-m', 'immediate', '-w'], { stdio: 'ignore', uid: c.as?.uid, gid: c.as?.gid });
    rmSync(c.dir, { recursive: true, force: true });
  }
});

/** Writes a one-day self-signed key pair into `dir` (the key 0600 and owned by the server, as PostgreSQL demands). */
function selfSignedCertificate(dir: string, as: { uid: number; gid: number } | undefined): Record<string, string> {
  const cert = join(dir, 'server.crt');
  const key = join(dir, 'server.key');
  const r = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl could not make a test certificate (is openssl installed?): ${r.error?.message ?? r.stderr}`);
  chmodSync(key, 0o600);
  if (as) for (const f of [cert, key]) chownSync(f, as.uid, as.gid);
  return { ssl: 'on', ssl_cert_file: cert, ssl_key_file: key };
}

/** Starts a new cluster. */
export async function startLocalPostgres(options: LocalPostgresOptions = {}): Promise<LocalPostgres> {
  const binDir = findServerBinDir(options.binDir);
  const as = serverUser();
  const user = options.superuser ?? 'postgres';
  const password = options.password ?? `pw-${randomBytes(12).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-pg-'));
  const dataDir = join(dir, 'data');
  const pwFile = join(dir, 'pwfile');
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  if (as) {
    chownSync(dir, as.uid, as.gid);
    chownSync(pwFile, as.uid, as.gid);
  }
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const init = await run(
    join(binDir, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      user,
      `--pwfile=${pwFile}`,
      '--auth-local=scram-sha-256',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ],
    as,
  );
  rmSync(pwFile, { force: true });
  if (init.code !== 0) {
    cleanup();
    throw new Error(`initdb failed: ${init.out.trim().split('\n').slice(-5).join('\n')}`);
  }
  let tls: Record<string, string> = {};
  try {
    if (options.ssl) tls = selfSignedCertificate(dir, as);
  } catch (err) {
    cleanup();
    throw err;
  }
  const settings: Record<string, string> = {
    ...tls,
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '50',
    ...options.settings,
  };
  const pgCtl = join(binDir, 'pg_ctl');
  const log = join(dir, 'server.log');
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    writeFileSync(
      join(dataDir, 'postgresql.auto.conf'),
      Object.entries({ ...settings, port: String(port) })
        .map(([k, v]) => `${k} = '${v}'`)
        .join('\n') + '\n',
    );
    if (as) chownSync(join(dataDir, 'postgresql.auto.conf'), as.uid, as.gid);
    const started = await run(pgCtl, ['start', '-D', dataDir, '-w', '-t', '60', '-l', log], as);
    if (started.code === 0) break;
    const serverLog = existsSync(log) ? readFileSync(log, 'utf8') : '';
    if (attempt < 3 && /already in use|could not bind/i.test(serverLog)) continue;
    cleanup();
    throw new Error(`pg_ctl start failed: ${started.out.trim()}\n${serverLog.trim().split('\n').slice(-10).join('\n')}`);
  }
  const entry = { pgCtl, dataDir, dir, as };
  running.add(entry);

  const env = (database = 'postgres') => ({
    PGHOST: '127.0.0.1',
    PGPORT: String(port),
    PGUSER: user,
    PGPASSWORD: password,
    PGDATABASE: database,
    PGSSLMODE: options.ssl ? 'require' : 'disable',
  });
  const { psql } = psqlServer(env(), binDir);
  const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    binDir,
    dataDir,
    env,
    url: (database = 'postgres') =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    psql,
    createDatabase: async (name) => {
      await psql(`create database ${quoteIdent(name)}`);
    },
    dropDatabase: async (name) => {
      await psql(`drop database if exists ${quoteIdent(name)} with (force)`);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await run(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w'], as).catch(() => undefined);
      running.delete(entry);
      cleanup();
    },
  };
}
