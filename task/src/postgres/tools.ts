import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { describeExit, isFailedExit, runCaptured, spawnErrorMessage } from '../child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';

/** Paths of the PostgreSQL client programs. */
export interface PgTools {
  readonly pgDump: string;
  readonly pgDumpAll: string;
  readonly pgRestore: string;
  readonly psql: string;
}

/** The client programs in `binDir`, or found on PATH when it is undefined. */
export function pgTools(binDir?: string): PgTools {
  const at = (name: string) => (binDir ? path.join(binDir, name) : name);
  return { pgDump: at('pg_dump'), pgDumpAll: at('pg_dumpall'), pgRestore: at('pg_restore'), psql: at('psql') };
}

export interface ServerInfo {
  /** server_version_num, e.g. 150018. */
  readonly versionNum: number;
  /** server_version, e.g. "15.18 (Debian 15.18-0+deb12u1)". */
  readonly version: string;
  readonly databaseSizeBytes: number;
}

/** Parses "pg_dump (PostgreSQL) 15.18 (Debian …)" or "9.6.24" into a version number (150018, 90624). */
export function parseVersionNum(text: string): number | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text) ?? /(\d+)(?:devel|beta|rc)/.exec(text);
  if (!m) return undefined;
  const major = Number(m[1]);
  if (major >= 10) return major * 10000 + Number(m[2] ?? 0);
  return major * 10000 + Number(m[2]) * 100 + Number(m[3] ?? 0);
}

/** The major version as PostgreSQL names it: "15", or "9.6" before 10. */
export function majorOf(versionNum: number): string {
  return versionNum >= 100000
    ? String(Math.floor(versionNum / 10000))
    : `${Math.floor(versionNum / 10000)}.${Math.floor(versionNum / 100) % 100}`;
}

const majorNum = (v: number) => (v >= 100000 ? Math.floor(v / 10000) * 10000 : Math.floor(v / 100) * 100);

/** Runs `<program> --version` and returns its text and number. */
export async function clientVersion(
  program: string,
  name: string,
  env: Readonly<Record<string, string>>,
): Promise<{ text: string; num: number }> {
  const run = await runCaptured(program, ['--version'], { env }).catch((err: NodeJS.ErrnoException) => {
    throw new TaskError(spawnErrorMessage(name, err), { exitCode: ExitCode.DATABASE, stage: 'version-check', cause: err });
  });
  const text = run.stdout.toString('utf8').trim();
  const num = parseVersionNum(text);
  if (isFailedExit(run) || num === undefined) {
    throw new TaskError(`${name} --version ${describeExit(run)} and printed '${text}': ${run.stderr}`, {
      exitCode: ExitCode.DATABASE,
      stage: 'version-check',
    });
  }
  return { text, num };
}

/**
 * Refuses to dump a server newer than pg_dump, naming both versions and the fix. pg_dump
 * would refuse too, but only after the run started, in words people miss after an upgrade.
 */
export function checkVersions(server: ServerInfo, pgDump: { text: string; num: number }): void {
  if (majorNum(pgDump.num) >= majorNum(server.versionNum)) return;
  const need = majorOf(server.versionNum);
  throw new TaskError(
    `pg_dump ${majorOf(pgDump.num)} (${pgDump.text}) is older than the server (PostgreSQL ${server.version}) and cannot dump it. ` +
      `Install postgresql-client-${need} or newer (the container image: build argument PG_MAJOR=${need} or higher), ` +
      `or point --pg-bin-dir / PG_BIN_DIR at a pg_dump ${need}+. A newer pg_dump dumps every older server.`,
    { exitCode: ExitCode.DATABASE, stage: 'version-check' },
  );
}

/**
 * Runs SQL with psql and returns its unaligned, tab-separated rows. `vars` become psql
 * variables, to be quoted in the SQL as :'name' (literal) or :"name" (identifier).
 */
export async function query(
  tools: PgTools,
  conn: DbConnection,
  sql: string,
  database?: string,
  vars: Record<string, string> = {},
): Promise<string[][]> {
  const env = database ? { ...conn.childEnv, PGDATABASE: database } : conn.childEnv;
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]);
  // --no-password: psql reads the SQL from stdin, so a prompt would take the SQL as the password.
  const run = await runCaptured(tools.psql, ['-X', '--no-password', '-A', '-t', '-q', '-F', '\t', '-v', 'ON_ERROR_STOP=1', ...varArgs], {
    env,
    input: sql,
  }).catch((err: NodeJS.ErrnoException) => {
    throw new TaskError(spawnErrorMessage('psql', err), { exitCode: ExitCode.DATABASE, stage: 'connect', cause: err });
  });
  if (isFailedExit(run)) {
    const target = database ? conn.display.replace(/\/[^/?]*(\?|$)/, `/${encodeURIComponent(database)}$1`) : conn.display;
    throw new TaskError(`Cannot query ${target}: ${run.stderr || `psql ${describeExit(run)}`}${connectionHint(run.stderr)}`, {
      exitCode: ExitCode.DATABASE,
      stage: 'connect',
    });
  }
  const text = run.stdout.toString('utf8').replace(/\n$/, '');
  return text === '' ? [] : text.split('\n').map((line) => line.split('\t'));
}

/**
 * What to do about a connection libpq refused, in the settings a person can change: a
 * password it needed and did not have (every client runs with --no-password, so it says so
 * instead of prompting), or a server certificate it could not verify (sslmode verify-ca /
 * verify-full).
 */
export function connectionHint(stderr: string): string {
  if (/no password supplied/.test(stderr))
    return ' The server asks for a password and none was given: set PGPASSWORD, put the password in the URL variable (DATABASE_URL, RESTORE_TARGET_URL or VERIFY_RESTORE_INTO_URL), or provide a PGPASSFILE.';
  if (
    /certificate verify failed|root certificate file .* does not exist|does not match host name|SSL error: unable to get local issuer/.test(
      stderr,
    )
  )
    return " The server's TLS certificate could not be verified (sslmode verify-ca or verify-full): set PGSSLROOTCERT (or the URL's sslrootcert) to the CA bundle that signed it. The container image holds Amazon RDS's bundle at /usr/local/share/pg-s3-backup/rds-global-bundle.pem.";
  return '';
}

/** Connects once to learn the server's version and the database's size. */
export async function serverInfo(tools: PgTools, conn: DbConnection): Promise<ServerInfo> {
  const rows = await query(
    tools,
    conn,
    "select current_setting('server_version_num'), current_setting('server_version'), pg_database_size(current_database())",
  );
  const [num, version, size] = rows[0] ?? [];
  return { versionNum: Number(num), version, databaseSizeBytes: Number(size) };
}

/**
 * A database name as a libpq connection string, `dbname='…'`, for the programs that take the
 * database only as an argument (pg_restore --dbname, pg_dumpall --database). Given a bare name,
 * they expand one that holds `=` or starts with `postgres://` into connection settings: a target
 * called `dbname=other` would restore into `other`. Quoted this way it is always just a name.
 */
export function databaseConninfo(name: string): string {
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

let setprivPath: string | null | undefined;

/** setpriv (util-linux, on every Debian and in the image) when it is on PATH. */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir || '.', 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      setprivPath = candidate;
      break;
    } catch {
      // not here
    }
  }
  return setprivPath;
}

/**
 * The command that starts `program` so that it receives SIGTERM when this process dies, even by
 * SIGKILL (Linux's parent-death signal, set by `setpriv --pdeathsig`, which then execs the
 * program: same process, same pid). Where setpriv is missing (macOS), the program as it is.
 */
export function diesWithParent(program: string, args: readonly string[]): [string, string[]] {
  const setpriv = process.platform === 'linux' ? findSetpriv() : null;
  return setpriv ? [setpriv, ['--pdeathsig', 'TERM', '--', program, ...args]] : [program, [...args]];
}
