import { RawSettings } from './config';

/**
 * How to reach the database. The password lives only in `childEnv` (libpq reads PGPASSWORD
 * from the environment of pg_dump/psql): never in argv, logs or messages.
 */
export interface DbConnection {
  /** Database name: what is dumped, and the key's `<database>` segment. */
  readonly database: string;
  /** Environment for PostgreSQL client programs (PG* variables, password included). Never print it. */
  readonly childEnv: Readonly<Record<string, string>>;
  /** `postgres://user:***@host:port/db`, safe to print. */
  readonly display: string;
  /** Secret strings that must be scrubbed from anything printed. */
  readonly secrets: readonly string[];
}

/** Query parameters of a postgres:// URL and the libpq variables they become. */
const URL_PARAMS: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  host: 'PGHOST',
  port: 'PGPORT',
  user: 'PGUSER',
  dbname: 'PGDATABASE',
  password: 'PGPASSWORD',
};

/** Variables removed from child processes: pg_dump needs no cloud credentials. */
const NOT_FOR_CHILDREN = ['DATABASE_URL', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID'];

/**
 * Resolves the connection from `DATABASE_URL` or libpq's PG* settings. Appends problems
 * (never echoing a URL, which may hold a password) and returns undefined when it cannot.
 */
export function resolveConnection(values: RawSettings, env: NodeJS.ProcessEnv, problems: string[]): DbConnection | undefined {
  const pg: Record<string, string> = {};
  const fromSettings: Record<string, string | undefined> = {
    PGHOST: values.host as string | undefined,
    PGPORT: values.port === undefined ? undefined : String(values.port),
    PGUSER: values.user as string | undefined,
    PGDATABASE: values.dbname as string | undefined,
    PGSSLMODE: values.sslmode as string | undefined,
    PGPASSWORD: env.PGPASSWORD || undefined,
  };
  for (const [k, v] of Object.entries(fromSettings)) if (v !== undefined) pg[k] = v;

  const url = values.databaseUrl as string | undefined;
  if (url !== undefined) {
    const fromUrl = parseDatabaseUrl(url, problems);
    if (!fromUrl) return undefined;
    for (const [k, v] of Object.entries(fromUrl)) {
      if (pg[k] !== undefined && pg[k] !== v && k !== 'PGSSLMODE') {
        const what = k === 'PGPASSWORD' ? 'a different password' : `'${v}'`;
        problems.push(`DATABASE_URL gives ${k} ${what} but ${k} is also set to another value. Set the connection one way: unset ${k} or fix the URL.`);
      }
      pg[k] = v;
    }
  }
  if (!pg.PGDATABASE) {
    problems.push('No database name: set PGDATABASE (or --dbname), or give DATABASE_URL with a /dbname path.');
    return undefined;
  }

  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !NOT_FOR_CHILDREN.includes(k)) childEnv[k] = v;
  Object.assign(childEnv, pg);
  childEnv.PGAPPNAME ??= 'pg-s3-backup';
  // An unreachable server should fail in seconds, not hang for libpq's unlimited default.
  childEnv.PGCONNECT_TIMEOUT ??= '15';

  const secrets = [pg.PGPASSWORD, url].filter((s): s is string => typeof s === 'string' && s.length > 0);
  return { database: pg.PGDATABASE, childEnv, display: displayConnection(childEnv), secrets };
}

function parseDatabaseUrl(url: string, problems: string[]): Record<string, string> | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push('DATABASE_URL is not a valid URL (value not shown: it may hold a password). Expected postgres://user:password@host:port/dbname.');
    return undefined;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    problems.push(`DATABASE_URL must start with postgres:// or postgresql://, got '${parsed.protocol}//'.`);
    return undefined;
  }
  const out: Record<string, string> = {};
  const decode = (s: string) => decodeURIComponent(s);
  if (parsed.hostname) out.PGHOST = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (parsed.port) out.PGPORT = parsed.port;
  if (parsed.username) out.PGUSER = decode(parsed.username);
  if (parsed.password) out.PGPASSWORD = decode(parsed.password);
  const path = decode(parsed.pathname.replace(/^\//, ''));
  if (path) out.PGDATABASE = path;
  for (const [name, value] of parsed.searchParams) {
    const variable = URL_PARAMS[name];
    if (variable) out[variable] = value;
    else problems.push(`DATABASE_URL has an unsupported parameter '${name}'. Supported: ${Object.keys(URL_PARAMS).join(', ')}.`);
  }
  return out;
}

/** A printable description of a connection: the password is never included. */
export function displayConnection(env: Readonly<Record<string, string | undefined>>): string {
  const user = env.PGUSER ? `${encodeURIComponent(env.PGUSER)}${env.PGPASSWORD ? ':***' : ''}@` : '';
  const host = env.PGHOST ?? 'localhost';
  const port = env.PGPORT ? `:${env.PGPORT}` : '';
  const ssl = env.PGSSLMODE ? `?sslmode=${env.PGSSLMODE}` : '';
  return `postgres://${user}${host.includes(':') ? `[${host}]` : host}${port}/${encodeURIComponent(env.PGDATABASE ?? '')}${ssl}`;
}
