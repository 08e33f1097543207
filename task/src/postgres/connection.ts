import { SSL_MODES, SslMode } from '../contract';

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

/** The connection settings a caller has read (flags or PG* variables), each optional. */
export interface ConnectionSettings {
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly dbname?: string;
  readonly sslmode?: string;
  /** postgres://… (DATABASE_URL); may hold a password. */
  readonly databaseUrl?: string;
}

/**
 * Resolves the connection from `DATABASE_URL` or libpq's PG* settings. Appends problems
 * (never echoing a URL, which may hold a password) and returns undefined when it cannot.
 * `defaultDatabase` is the database when neither gives one (backup --all-databases reads its
 * list from `postgres`); without it, a missing name is a problem.
 */
export function resolveConnection(
  values: ConnectionSettings,
  env: NodeJS.ProcessEnv,
  problems: string[],
  defaultDatabase?: string,
): DbConnection | undefined {
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
      if (k === 'PGSSLMODE') {
        // Neither side may weaken the other: a URL's ?sslmode=disable does not undo PGSSLMODE=verify-full.
        pg[k] = stricterSslMode(pg[k], v) ?? v;
        continue;
      }
      if (pg[k] !== undefined && pg[k] !== v) {
        const what = k === 'PGPASSWORD' ? 'a different password' : `'${v}'`;
        problems.push(
          `DATABASE_URL gives ${k} ${what} but ${k} is also set to another value. Set the connection one way: unset ${k} or fix the URL.`,
        );
      }
      pg[k] = v;
    }
  }
  // An empty or overlong name is reported where it was read (--dbname/PGDATABASE, or the URL).
  if (pg.PGDATABASE === undefined && defaultDatabase !== undefined) pg.PGDATABASE = defaultDatabase;
  if (pg.PGDATABASE === undefined) {
    problems.push('No database name: set PGDATABASE (or --dbname), or give DATABASE_URL with a /dbname path.');
    return undefined;
  }

  return connectionFrom(pg, env, [withPassword(url)]);
}

/**
 * A connection whose libpq variables are `pg` on top of the process environment, for a
 * target given as a URL (restore --target, verify --restore-into). As in libpq, what the
 * URL says overrides PG* variables, except the TLS mode: the stricter of the URL's sslmode
 * and PGSSLMODE is used. The password may come from the URL (set through the environment),
 * PGPASSWORD or a PGPASSFILE.
 */
export function targetConnection(url: string, env: NodeJS.ProcessEnv, problems: string[], label: string): DbConnection | undefined {
  const fromUrl = parseDatabaseUrl(url, problems, label);
  const envMode = env.PGSSLMODE || undefined;
  if (envMode !== undefined && !isSslMode(envMode)) problems.push(`PGSSLMODE must be one of ${SSL_MODES.join(', ')}; got '${envMode}'.`);
  if (!fromUrl) return undefined;
  if (fromUrl.PGDATABASE === undefined) {
    problems.push(`${label} has no database name: add it as the URL's path, e.g. postgres://user@host:5432/restored_app.`);
    return undefined;
  }
  const pg: Record<string, string> = { ...fromUrl };
  if (env.PGPASSWORD && pg.PGPASSWORD === undefined) pg.PGPASSWORD = env.PGPASSWORD;
  const mode = stricterSslMode(envMode, fromUrl.PGSSLMODE);
  if (mode !== undefined) pg.PGSSLMODE = mode;
  return connectionFrom(pg, env, [withPassword(url)]);
}

/** libpq's TLS modes, weakest first: what {@link stricterSslMode} ranks by. */
function isSslMode(mode: string): mode is SslMode {
  return (SSL_MODES as readonly string[]).includes(mode);
}

/**
 * The stricter of two libpq TLS modes (disable < allow < prefer < require < verify-ca <
 * verify-full), or the one given. A mode libpq does not know is reported by configuration;
 * here it never wins over a known one.
 */
export function stricterSslMode(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  const rank = (m: string) => (SSL_MODES as readonly string[]).indexOf(m);
  return rank(b) > rank(a) ? b : a;
}

/** PostgreSQL keeps names in NAMEDATALEN (64) bytes with a terminating NUL: 63 bytes of name. */
export const MAX_NAME_BYTES = 63;

/**
 * A problem with a database name, or undefined: empty, holding a NUL (no PostgreSQL name can),
 * or longer than {@link MAX_NAME_BYTES} in UTF-8, which the server would silently cut, possibly
 * onto another database's name. `label` names the setting it came from.
 */
export function databaseNameProblem(name: string, label: string): string | undefined {
  if (name === '') return `${label} is empty: name the database.`;
  if (name.includes('\0')) return `${label} ${JSON.stringify(name)} holds a NUL character, which no PostgreSQL name can hold.`;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes <= MAX_NAME_BYTES) return undefined;
  let cut = '';
  for (const ch of name) {
    if (Buffer.byteLength(cut + ch, 'utf8') > MAX_NAME_BYTES) break;
    cut += ch;
  }
  return (
    `${label} '${name}' is ${bytes} bytes long, but PostgreSQL names are at most ${MAX_NAME_BYTES} bytes: the server would cut it ` +
    `to '${cut}', which may be another database. Use a name of ${MAX_NAME_BYTES} bytes or less.`
  );
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

/** What each libpq variable is called in a message about a URL (a password is never shown). */
const URL_PART: Record<string, string> = {
  PGHOST: 'host',
  PGPORT: 'port',
  PGUSER: 'user name',
  PGPASSWORD: 'password',
  PGDATABASE: 'database name',
};

/**
 * Splits a postgres:// URL into libpq variables; appends problems without echoing the URL.
 * Decodes as libpq does: every part percent-decoded, `+` kept as `+`. A `%` that does not
 * start a percent-encoded byte, a parameter given twice or repeating a part of the URL, an
 * sslmode libpq does not know and an unusable database name are problems.
 */
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
  let decodeFailed = false;
  const decode = (raw: string, what: string) => {
    const value = decodeUrlPart(raw, `${label}: its ${what}`, problems);
    decodeFailed ||= value === undefined;
    return value;
  };
  const out: Record<string, string | undefined> = {
    PGHOST: parsed.hostname ? decode(parsed.hostname.replace(/^\[(.*)\]$/, '$1'), 'host') : undefined,
    PGPORT: parsed.port || undefined,
    PGUSER: parsed.username ? decode(parsed.username, 'user name') : undefined,
    PGPASSWORD: parsed.password ? decode(parsed.password, 'password') : undefined,
    PGDATABASE: parsed.pathname.length > 1 ? decode(parsed.pathname.slice(1), 'database name (path)') : undefined,
  };
  const seen = new Set<string>();
  for (const piece of parsed.search.slice(1).split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = decode(eq < 0 ? piece : piece.slice(0, eq), 'parameter name');
    if (name === undefined) continue;
    const variable = URL_PARAMS[name];
    if (!variable) {
      problems.push(`${label} has an unsupported parameter '${name}'. Supported: ${Object.keys(URL_PARAMS).join(', ')}.`);
      continue;
    }
    const value = decode(eq < 0 ? '' : piece.slice(eq + 1), `parameter '${name}'`);
    if (seen.has(name)) problems.push(`${label} gives the parameter '${name}' more than once. Give it once.`);
    else if (out[variable] !== undefined && URL_PART[variable] && out[variable] !== value) {
      problems.push(`${label} gives the ${URL_PART[variable]} twice, in the URL and as '${name}='. Give it once.`);
    }
    seen.add(name);
    if (value !== undefined) out[variable] = value;
  }
  if (out.PGSSLMODE !== undefined && !isSslMode(out.PGSSLMODE)) {
    problems.push(`${label} has sslmode '${out.PGSSLMODE}', which libpq does not know. Use one of ${SSL_MODES.join(', ')}.`);
  }
  const nameProblem = out.PGDATABASE === undefined ? undefined : databaseNameProblem(out.PGDATABASE, `${label}'s database name`);
  if (nameProblem) problems.push(nameProblem);
  // A part that could not be decoded is missing: the rest would be misread (e.g. as no database name).
  if (decodeFailed) return undefined;
  return Object.fromEntries(Object.entries(out).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * Percent-decodes one part of a URL, or appends a problem naming `what` (never the value: it
 * may be a password) and returns undefined. `decodeURIComponent` throws on a lone `%`.
 */
function decodeUrlPart(raw: string, what: string, problems: string[]): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) {
    problems.push(`${what} has a '%' that is not followed by two hex digits (value not shown). Write a literal '%' as %25.`);
    return undefined;
  }
  try {
    return decodeURIComponent(raw);
  } catch {
    problems.push(`${what} has percent-encoded bytes that are not UTF-8 text (value not shown). Write a literal '%' as %25.`);
    return undefined;
  }
}

/** A printable description of a connection: the password is never included. */
export function displayConnection(env: Readonly<Record<string, string | undefined>>): string {
  const user = env.PGUSER ? `${encodeURIComponent(env.PGUSER)}${env.PGPASSWORD ? ':***' : ''}@` : '';
  const host = env.PGHOST ?? 'localhost';
  const port = env.PGPORT ? `:${env.PGPORT}` : '';
  const ssl = env.PGSSLMODE ? `?sslmode=${env.PGSSLMODE}` : '';
  return `postgres://${user}${host.includes(':') ? `[${host}]` : host}${port}/${encodeURIComponent(env.PGDATABASE ?? '')}${ssl}`;
}

/** The same server and credentials, another database on it (a restore's temporary database). */
export function withDatabase(conn: DbConnection, database: string): DbConnection {
  return {
    ...conn,
    database,
    childEnv: { ...conn.childEnv, PGDATABASE: database },
    display: conn.display.replace(/\/[^/?]*(\?|$)/, `/${encodeURIComponent(database)}$1`),
  };
}
