import { DbConnection } from './connection';
import { PgTools, query } from './tools';

/** Why `backup --all-databases` leaves a database out. */
export type SkipReason = 'template' | 'no connections' | 'no connect privilege' | 'excluded';

/** A database of the cluster, and whether `backup --all-databases` takes it. */
export interface ClusterDatabase {
  readonly name: string;
  /** Why it is left out; undefined when it is backed up. */
  readonly skip?: SkipReason;
  /** The --exclude-database patterns that match it. */
  readonly excludedBy: readonly string[];
}

/**
 * The POSIX regular expression (as PostgreSQL's `~` reads it) that a database name pattern
 * stands for, by the rules pg_dumpall --exclude-database applies (libpq's fe_utils
 * `patternToSQLRegex`, the same as psql's `\l PATTERN`): outside double quotes `*` is `.*`,
 * `?` is `.`, ASCII upper-case letters are folded to lower case and other regular-expression
 * characters keep their meaning (but `[]` is literal); inside double quotes every character
 * is literal and `""` is a `"`; `$` is always literal; the whole name must match. An unquoted
 * `.` would separate a qualified name, which a database name is not: see
 * {@link databasePatternProblem}.
 */
export function databasePatternRegex(pattern: string): string {
  const chars = [...pattern];
  let out = '';
  let quoted = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === '"') {
      if (quoted && chars[i + 1] === '"') {
        out += '"';
        i++;
      } else quoted = !quoted;
    } else if (!quoted && ch >= 'A' && ch <= 'Z') out += ch.toLowerCase();
    else if (!quoted && ch === '*') out += '.*';
    else if (!quoted && ch === '?') out += '.';
    else if (ch === '$') out += '\\$';
    else {
      if (quoted && '|*+?()[]{}.^$\\'.includes(ch)) out += '\\';
      else if (ch === '[' && chars[i + 1] === ']') out += '\\';
      out += ch;
    }
  }
  return `^(${out})$`;
}

/**
 * A problem with an --exclude-database pattern, or undefined: an unquoted `.` (pg_dumpall
 * refuses it: "improper qualified name"), or a pattern that names no characters at all (`""`,
 * which pg_dumpall would read as "every database").
 */
export function databasePatternProblem(pattern: string, label: string): string | undefined {
  let quoted = false;
  for (const ch of pattern) {
    if (ch === '"') quoted = !quoted;
    else if (ch === '.' && !quoted)
      return `${label} '${pattern}' has a '.' outside double quotes, which would qualify a name; a database name is not qualified. Quote a name that holds a dot: '"my.db"'.`;
  }
  if (databasePatternRegex(pattern) === '^()$')
    return `${label} '${pattern}' names no characters. Give a name or a pattern such as 'scratch_*'.`;
  return undefined;
}

/**
 * Every database of the server `conn` reaches (read from its database), by name, each with
 * the reason `backup --all-databases` leaves it out, if any: a template, one that does not
 * allow connections, one the user has no CONNECT privilege on, or one an exclude pattern
 * matches (matched by the server, as pg_dumpall matches them). Names travel hex-encoded, so
 * that no character of a name can break the rows apart.
 */
export async function listClusterDatabases(tools: PgTools, conn: DbConnection, exclude: readonly string[]): Promise<ClusterDatabase[]> {
  const vars = Object.fromEntries(exclude.map((p, i) => [`exclude${i}`, databasePatternRegex(p)]));
  const matches = exclude.map((_, i) => `, datname operator(pg_catalog.~) :'exclude${i}' collate pg_catalog.default`).join('');
  const rows = await query(
    tools,
    conn,
    `select encode(convert_to(datname, 'UTF8'), 'hex'), datistemplate, datallowconn, pg_catalog.has_database_privilege(oid, 'CONNECT')${matches}
       from pg_catalog.pg_database order by datname`,
    undefined,
    vars,
  );
  return rows.map(([hex, template, allowConn, canConnect, ...matched]) => {
    const excludedBy = exclude.filter((_, i) => matched[i] === 't');
    const skip: SkipReason | undefined =
      template === 't'
        ? 'template'
        : allowConn !== 't'
          ? 'no connections'
          : canConnect !== 't'
            ? 'no connect privilege'
            : excludedBy.length > 0
              ? 'excluded'
              : undefined;
    return { name: Buffer.from(hex, 'hex').toString('utf8'), skip, excludedBy };
  });
}
