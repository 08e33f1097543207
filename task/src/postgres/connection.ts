import { RawSettings } from '../config/parse';

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

/**
 * What a PostgreSQL client program may see of this process's environment: the program search
 * path, locale and time zone, the home directory (libpq's ~/.pgpass and ~/.postgresql) and the
 * temp directory. Nothing else passes, so no cloud credential, URL variable or setting of this
 * CLI reaches a child, whatever the container's environment holds.
 */
const FOR_EVERY_CHILD = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR']);
const isLocale = (name: string) => name.startsWith('LC_');
/** libpq's own variables (PGHOST, PGSSLMODE, PGPASSFILE…); PG_BIN_DIR is this CLI's. */
const isLibpq = (name: string) => /^PG[A-Z]/.test(name);

/**
 * Resolves the connection from `DATABASE_URL` or libpq's PG* settings. Appends problems
 * (never echoing a URL, which may hold a password) and returns undefined when it cannot.
 */
export function resolveConnection(values: RawSettings, env: NodeJS.ProcessEnv, problems: string[]): DbConnection | undefined {
  const pg: Record<string, string> = {};
  const fromSettings: Record<string, string | undefined> = {
    PGHOST: values.host,
    PGPORT: values.port === undefined ? undefined : String(values.port),
    PGUSER: values.user,
    PGDATABASE: values.dbname,
    PGSSLMODE: values.sslmode,
    PGPASSWORD: env.PGPASSWORD || undefined,
  };
  for (const [k, v] of Object.entries(fromSettings)) if (v !== undefined) pg[k] = v;

  const url = values.databaseUrl;
  if (url !== undefined) {
    const fromUrl = parseDatabaseUrl(url, problems);
    if (!fromUrl) return undefined;
    for (const [k, v] of Object.entries(fromUrl)) {
      if (pg[k] !== undefined && pg[k] !== v && k !== 'PGSSLMODE') {
        const what = k === 'PGPASSWORD' ? 'a different password' : `'${v}'`;
        problems.push(
          `DATABASE_URL gives ${k} ${what} but ${k} is also set to another value. Set the connection one way: unset ${k} or fix the URL.`,
        );
      }
      pg[k] = v;
    }
  }
  if (!pg.PGDATABASE) {
    problems.push('No database name: set PGDATABASE (or --dbname), or give DATABASE_URL with a /dbname path.');
    return undefined;
  }

  return connectionFrom(pg, env, [withPassword(url)]);
}

/**
 * A connection whose libpq variables are `pg` on top of the process environment, for a
 * target given as a URL (restore --target, verify --restore-into). As in libpq, what the
 * URL says overrides PG* variables; the password may come from the URL (set through the
 * environment), PGPASSWORD or a PGPASSFILE.
 */
export function targetConnection(url: string, env: NodeJS.ProcessEnv, problems: string[], label: string): DbConnection | undefined {
  const fromUrl = parseDatabaseUrl(url, problems, label);
  if (!fromUrl) return undefined;
  if (!fromUrl.PGDATABASE) {
    problems.push(`${label} has no database name: add it as the URL's path, e.g. postgres://user@host:5432/restored_app.`);
    return undefined;
  }
  const pg: Record<string, string> = {};
  if (env.PGPASSWORD) pg.PGPASSWORD = env.PGPASSWORD;
  return connectionFrom({ ...pg, ...fromUrl }, env, [withPassword(url)]);
}

/**
 * The URL, as a secret to scrub from output, only when it holds a password: a URL without
 * one is what the operator needs to see (where the data went), and scrubbing it would turn
 * every mention of the target into `***`.
 */
function withPassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).password === '' ? undefined : url;
  } catch {
    return url; // not a URL: configuration refuses it without echoing it
  }
}

/** The environment of a program that connects to nothing (pg_restore reading an archive): paths and locale only. */
export function toolEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (FOR_EVERY_CHILD.has(k) || isLocale(k))) out[k] = v;
  return out;
}

/** The environment of a program that connects (pg_dump, psql…): {@link toolEnvironment} plus libpq's variables. */
export function childEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out = toolEnvironment(env);
  for (const [k, v] of Object.entries(env)) if (v !== undefined && isLibpq(k)) out[k] = v;
  return out;
}

function connectionFrom(pg: Record<string, string>, env: NodeJS.ProcessEnv, extraSecrets: (string | undefined)[]): DbConnection {
  const childEnv = childEnvironment(env);
  Object.assign(childEnv, pg);
  childEnv.PGAPPNAME ??= 'pg-s3-backup';
  // An unreachable server should fail in seconds, not hang for libpq's unlimited default.
  childEnv.PGCONNECT_TIMEOUT ??= '15';
  const secrets = [pg.PGPASSWORD, ...extraSecrets].filter((s): s is string => typeof s === 'string' && s.length > 0);
  return { database: pg.PGDATABASE, childEnv, display: displayConnection(childEnv), secrets };
}

/** A problem when a URL given as a flag carries a password (command lines are visible to all). */
export function passwordInFlagProblem(url: string | undefined, source: string | undefined, variable: string): string | undefined {
  if (url === undefined || source === undefined || !source.startsWith('--')) return undefined;
  try {
    if (new URL(url).password === '') return undefined;
  } catch {
    return undefined;
  }
  return `${source} holds a password, which every process on this machine can read from the command line. Pass the URL in ${variable} instead, or leave the password out and set PGPASSWORD or a PGPASSFILE.`;
}

/** Splits a postgres:// URL into libpq variables; appends problems without echoing the URL. */
export function parseDatabaseUrl(url: string, problems: string[], label = 'DATABASE_URL'): Record<string, string> | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push(
      `${label} is not a valid URL (value not shown: it may hold a password). Expected postgres://user:password@host:port/dbname.`,
    );
    return undefined;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    problems.push(`${label} must start with postgres:// or postgresql://, got '${parsed.protocol}//'.`);
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
    else problems.push(`${label} has an unsupported parameter '${name}'. Supported: ${Object.keys(URL_PARAMS).join(', ')}.`);
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
