import { isFailedExit } from '../child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { binaryOf, lexSql, quoteIdentifier, quoteLiteral, splitStatements, Statement, Token, utf8Of } from './sql-lexer';
import { describeRefusal, StatementMismatch, TokenCursor } from './sql-statements';
import { runRestrictedScript, restrictUnsupported } from './psql-script';
import { PgTools, query } from './tools';

/**
 * The database-level part of an archive: `ALTER DATABASE … SET`, `ALTER ROLE … IN DATABASE …
 * SET`, the database's ACL, comment and security label. pg_restore applies these entries only
 * with `--create`, i.e. only into a database of the source's name; restoring into a new name, as
 * the runbook does, would silently drop them. So they are read from the archive's table of
 * contents (each entry's own SQL, not pg_restore's script), every statement checked to be
 * exactly of the kind its entry may hold, re-aimed at the target by replacing the one token that
 * names the database, and applied in one transaction under psql's `\restrict`.
 *
 * A restore runs with the target server's highest privileges, and the archive may have been
 * crafted (or a database owner may have chosen a comment or a setting to look like SQL): no text
 * from it is split into lines, reaches psql's backslash-command parser, or runs unless it lexes
 * as exactly such a statement.
 */
export interface DatabaseProperties {
  /** The database the archive was dumped from, as its entries name it (UTF-8). */
  readonly sourceDatabase: string;
  readonly statements: readonly PropertyStatement[];
  /** The archive's client encoding (its ENCODING entry): the statements' bytes are in it. */
  readonly encoding: string;
  /** Its STDSTRINGS entry: how `'…'` literals in the statements read. */
  readonly standardConformingStrings: boolean;
  /** What the archive held that the options left out (for a warning). */
  readonly leftOut: readonly string[];
}

/** One checked statement, ready to be aimed at a target. */
export interface PropertyStatement {
  /** e.g. `SET work_mem`, `COMMENT`, `GRANT CONNECT TO reader`. */
  readonly description: string;
  /** For `ALTER ROLE r IN DATABASE`: the role (bytes as a binary string), which the target server may lack. */
  readonly role?: string;
  /** The statement with the database's name replaced by `target` (a quoted identifier, binary string). */
  render(target: string): string;
}

/** What was applied, in words, for the restore summary. */
export interface PropertiesReport {
  readonly applied: string[];
  /** Role settings for roles the target server does not have. */
  readonly skipped: string[];
}

/** The archive's TOC entries that belong to the database itself, and what each may hold. */
const DATABASE_ENTRIES: Record<string, (c: TokenCursor, acl: AclState) => Omit<PropertyStatement, 'render'> & { db?: Token }> = {
  'DATABASE PROPERTIES': alterStatement,
  COMMENT: (c) => labelStatement(c, 'comment'),
  'SECURITY LABEL': (c) => labelStatement(c, 'security'),
  ACL: aclStatement,
};

/** Encodings a server can have, as pg_dump names them: all ASCII-safe, so the lexer reads them byte by byte. */
const SERVER_ENCODINGS = new Set([
  'SQL_ASCII', 'UTF8', 'EUC_JP', 'EUC_CN', 'EUC_KR', 'EUC_TW', 'EUC_JIS_2004', 'MULE_INTERNAL', 'LATIN1', 'LATIN2', 'LATIN3', 'LATIN4',
  'LATIN5', 'LATIN6', 'LATIN7', 'LATIN8', 'LATIN9', 'LATIN10', 'WIN1256', 'WIN1258', 'WIN866', 'WIN874', 'KOI8R', 'WIN1251', 'WIN1252',
  'ISO_8859_5', 'ISO_8859_6', 'ISO_8859_7', 'ISO_8859_8', 'WIN1250', 'WIN1253', 'WIN1254', 'WIN1255', 'WIN1257', 'KOI8U',
]); // prettier-ignore

/** Whether an archive entry belongs to the database itself (what this module applies). */
export function isDatabaseEntry(entry: { desc: string; tag: string }): boolean {
  return entry.desc === 'DATABASE PROPERTIES' || (entry.desc in DATABASE_ENTRIES && entry.tag.startsWith('DATABASE '));
}

/** Entry kinds whose SQL the reader of the table of contents must keep for this module. */
export const PROPERTY_ENTRY_KINDS: ReadonlySet<string> = new Set(['DATABASE', 'ENCODING', 'STDSTRINGS', ...Object.keys(DATABASE_ENTRIES)]);

const refuse = (message: string) => new TaskError(message, { exitCode: ExitCode.INTEGRITY, stage: 'restore' });

/**
 * Checks and prepares the database's own entries of an archive, given its table of contents;
 * `noAcl` leaves the ACL out. Throws an integrity error (exit 5) naming the entry when any
 * statement is not exactly what that entry may hold: nothing is applied then.
 */
export function readDatabaseProperties(
  toc: { header: { database?: string }; entries: readonly { dumpId: number; desc: string; tag: string; defn: string }[] },
  options: { noAcl: boolean },
): DatabaseProperties {
  const own = toc.entries.filter(isDatabaseEntry);
  const wanted = own.filter((e) => !(options.noAcl && e.desc === 'ACL'));
  const leftOut = own.filter((e) => !wanted.includes(e)).map((e) => e.desc);
  const source = toc.entries.find((e) => e.desc === 'DATABASE')?.tag ?? toc.header.database;
  const encoding = settingOf(toc.entries, 'ENCODING', 'client_encoding') ?? 'UTF8';
  const std = settingOf(toc.entries, 'STDSTRINGS', 'standard_conforming_strings');
  if (wanted.length === 0)
    return { sourceDatabase: utf8Of(source ?? ''), statements: [], encoding, standardConformingStrings: true, leftOut };
  if (source === undefined)
    throw refuse('The archive has database entries but names no database (no DATABASE entry, no name in its header).');
  if (!SERVER_ENCODINGS.has(encoding))
    throw refuse(`The archive's client encoding '${utf8Of(encoding)}' is not a server encoding: not reading its database entries.`);
  // Without a STDSTRINGS entry (archives of servers before 8.2), pg_restore reads literals with escapes.
  const standardConformingStrings = std === undefined ? false : std === 'on';
  const statements = wanted.flatMap((entry) => entryStatements(entry, source, standardConformingStrings));
  return { sourceDatabase: utf8Of(source), statements, encoding, standardConformingStrings, leftOut };
}

/** The value of `SET <name> = '<value>';`, the one statement of an ENCODING or STDSTRINGS entry. */
function settingOf(entries: readonly { desc: string; defn: string }[], desc: string, name: string): string | undefined {
  const entry = entries.find((e) => e.desc === desc);
  if (!entry) return undefined;
  let statement: Statement | undefined;
  try {
    const statements = splitStatements(entry.defn, lexSql(entry.defn, { standardConformingStrings: true }));
    if (statements.length !== 1) throw new StatementMismatch(`${statements.length} statements`);
    statement = statements[0];
    const c = new TokenCursor(statement);
    c.words('set', name);
    if (!c.optionalWord('to')) c.symbol('=');
    const value = c.string().value;
    c.end();
    if (desc === 'STDSTRINGS' && value !== 'on' && value !== 'off') throw new StatementMismatch(`'${value}' is neither on nor off`);
    return value;
  } catch (err) {
    throw refuse(
      `The archive's ${desc} entry is not a plain SET ${name} (${describeRefusal(err, statement)}): not reading its database entries.`,
    );
  }
}

/** Tracks SET/RESET SESSION AUTHORIZATION inside one ACL entry: they must pair up. */
interface AclState {
  asGrantor: boolean;
}

function entryStatements(
  entry: { dumpId: number; desc: string; tag: string; defn: string },
  source: string,
  standardConformingStrings: boolean,
): PropertyStatement[] {
  const named = `the archive's ${entry.desc} entry ${entry.dumpId} (${utf8Of(entry.tag)})`;
  const check = DATABASE_ENTRIES[entry.desc];
  let statements: Statement[];
  try {
    statements = splitStatements(entry.defn, lexSql(entry.defn, { standardConformingStrings }));
  } catch (err) {
    throw refuse(`${named} cannot be read as SQL (${describeRefusal(err)}): nothing of it was applied. ${ADVICE}`);
  }
  const acl: AclState = { asGrantor: false };
  const out = statements.map((statement) => {
    const c = new TokenCursor(statement);
    let checked: ReturnType<typeof check>;
    try {
      checked = check(c, acl);
      c.end();
    } catch (err) {
      throw refuse(
        `${named} holds a statement that is not what such an entry may hold (${describeRefusal(err, statement)}): nothing was applied. ${ADVICE}`,
      );
    }
    const db = checked.db;
    if (db && db.value !== source)
      throw refuse(
        `${named} names the database ${JSON.stringify(utf8Of(db.value))}, not the archive's own ${JSON.stringify(utf8Of(source))}: nothing was applied. ${ADVICE}`,
      );
    const before = db ? statement.text.slice(0, db.start - statement.start) : statement.text;
    const after = db ? statement.text.slice(db.end - statement.start) : '';
    return { description: checked.description, role: checked.role, render: (target: string) => (db ? before + target + after : before) };
  });
  if (acl.asGrantor) throw refuse(`${named} sets a session authorization it does not reset: nothing was applied. ${ADVICE}`);
  return out;
}

const ADVICE =
  "Restore with --no-database-properties to leave the database's own settings, privileges and comment out (and check where this backup came from).";

/** DATABASE PROPERTIES: ALTER DATABASE db SET/RESET/CONNECTION LIMIT/IS_TEMPLATE, ALTER ROLE r IN DATABASE db SET/RESET. */
function alterStatement(c: TokenCursor): Omit<PropertyStatement, 'render'> & { db?: Token } {
  c.words('alter');
  if (c.oneOf('database', 'role', 'user') === 'database') {
    const db = c.identifier('the database name');
    if (c.optionalWord('connection')) {
      c.words('limit');
      c.optionalSymbol('=');
      return { db, description: `CONNECTION LIMIT ${c.integer().text}` };
    }
    if (c.optionalWord('is_template')) {
      c.optionalSymbol('=');
      return { db, description: `IS_TEMPLATE ${c.oneOf('true', 'false')}` };
    }
    return { db, description: setting(c) };
  }
  const role = c.role();
  c.words('in', 'database');
  const db = c.identifier('the database name');
  return { db, role: role.value, description: `role ${utf8Of(role.value)}: ${setting(c)}` };
}

/** SET name TO/= values, or RESET name/ALL (FROM CURRENT is refused: it would take the restoring session's value). */
function setting(c: TokenCursor): string {
  if (c.oneOf('set', 'reset') === 'reset') return `RESET ${c.optionalWord('all') ? 'ALL' : utf8Of(c.parameter())}`;
  const name = c.parameter();
  if (!c.optionalWord('to')) c.symbol('=');
  c.values();
  return `SET ${utf8Of(name)}`;
}

/** COMMENT ON DATABASE db IS '…', SECURITY LABEL [FOR provider] ON DATABASE db IS '…'. */
function labelStatement(c: TokenCursor, kind: 'comment' | 'security'): Omit<PropertyStatement, 'render'> & { db?: Token } {
  if (kind === 'comment') c.words('comment');
  else {
    c.words('security', 'label');
    if (c.optionalWord('for')) c.identifier('a label provider');
  }
  c.words('on', 'database');
  const db = c.identifier('the database name');
  c.words('is');
  if (!c.optionalWord('null')) c.string();
  return { db, description: kind === 'comment' ? 'COMMENT' : 'SECURITY LABEL' };
}

const DATABASE_PRIVILEGES = ['create', 'connect', 'temporary', 'temp'];

/** ACL: GRANT/REVOKE privileges ON DATABASE db TO/FROM roles, and pg_dump's SET/RESET SESSION AUTHORIZATION around a grant made by another role. */
function aclStatement(c: TokenCursor, acl: AclState): Omit<PropertyStatement, 'render'> & { db?: Token } {
  const verb = c.oneOf('grant', 'revoke', 'set', 'reset');
  if (verb === 'set' || verb === 'reset') {
    c.words('session', 'authorization');
    if (verb === 'set') {
      if (c.peek()?.kind === 'string') c.string();
      else c.role();
    }
    if ((verb === 'set') === acl.asGrantor)
      throw new StatementMismatch(
        verb === 'set' ? 'SET SESSION AUTHORIZATION twice without RESET' : 'RESET SESSION AUTHORIZATION without SET',
      );
    acl.asGrantor = verb === 'set';
    return { description: `${verb.toUpperCase()} SESSION AUTHORIZATION` };
  }
  const grantOption = verb === 'revoke' && c.optionalWord('grant') ? (c.words('option', 'for'), true) : false;
  let privileges: string[];
  if (c.optionalWord('all')) {
    c.optionalWord('privileges');
    privileges = ['ALL'];
  } else {
    privileges = [];
    do privileges.push(c.oneOf(...DATABASE_PRIVILEGES).toUpperCase());
    while (c.optionalSymbol(','));
  }
  c.words('on', 'database');
  const db = c.identifier('the database name');
  c.words(verb === 'grant' ? 'to' : 'from');
  const grantees: string[] = [];
  do grantees.push(c.optionalWord('public') ? 'PUBLIC' : utf8Of(c.role().value));
  while (c.optionalSymbol(','));
  if (verb === 'grant' && c.optionalWord('with')) c.words('grant', 'option');
  if (verb === 'revoke' && !c.optionalWord('cascade')) c.optionalWord('restrict');
  const what = `${grantOption ? 'GRANT OPTION FOR ' : ''}${privileges.join(',')}`;
  return { db, description: `${verb.toUpperCase()} ${what} ${verb === 'grant' ? 'TO' : 'FROM'} ${grantees.join(', ')}` };
}

/**
 * Applies the properties to the target database in one transaction, skipping settings of roles
 * the target server lacks (a new instance has other roles; those are listed). With `dryRun` the
 * transaction is rolled back: a check, before a restore into an existing database, that they
 * will apply. Only checked statements run, under psql's `\restrict`, in the archive's encoding.
 */
export async function applyDatabaseProperties(
  tools: PgTools,
  target: DbConnection,
  props: DatabaseProperties,
  dryRun = false,
): Promise<PropertiesReport> {
  const roles = await targetRoles(tools, target, props);
  const skipped: string[] = [];
  const statements = props.statements.filter((s) => {
    if (s.role === undefined || roles.has(s.role)) return true;
    skipped.push(`${s.description} (no such role on the target server)`);
    return false;
  });
  const applied = statements.map((s) => s.description).filter((d) => !d.endsWith('SESSION AUTHORIZATION'));
  if (statements.length === 0) return { applied, skipped };
  const name = targetName(target.database, props.encoding);
  const script = [
    `SET client_encoding = ${quoteLiteral(props.encoding)};`,
    `SET standard_conforming_strings = ${props.standardConformingStrings ? 'on' : 'off'};`,
    'BEGIN;',
    ...statements.map((s) => `${s.render(quoteIdentifier(name))};`),
    dryRun ? 'ROLLBACK;' : 'COMMIT;',
    '',
  ].join('\n');
  const run = await runRestrictedScript(tools, target, script, { onErrorStop: true });
  if (isFailedExit(run) || /ERROR:/.test(run.stderr)) {
    const why = restrictUnsupported(run.stderr, "a database's settings");
    throw new TaskError(
      why ??
        `Applying the database's own settings, privileges and comment (from '${props.sourceDatabase}') to '${target.database}' failed: ${run.stderr.trim()}. ` +
          'Create the roles they name first, or restore with --no-database-properties (and --no-acl) and set them by hand.',
      { exitCode: ExitCode.DATABASE, stage: 'restore' },
    );
  }
  return { applied, skipped };
}

/** The target's name as bytes of the archive's encoding (binary string): exact for UTF-8 and for ASCII names. */
function targetName(database: string, encoding: string): string {
  // eslint-disable-next-line no-control-regex -- ASCII is exactly what passes unchanged
  if (encoding === 'UTF8' || encoding === 'SQL_ASCII' || /^[\u0000-\u007f]*$/.test(database)) return binaryOf(database);
  throw new TaskError(
    `The archive's database entries are in ${encoding}, and the target's name '${database}' is not ASCII: this CLI writes names in UTF-8 only. Restore into an ASCII name, or with --no-database-properties.`,
    { exitCode: ExitCode.CONFIG, stage: 'restore' },
  );
}

/** The roles of the target's server, by their names' bytes in the archive's encoding (binary strings). */
async function targetRoles(tools: PgTools, target: DbConnection, props: DatabaseProperties): Promise<Set<string>> {
  if (!props.statements.some((s) => s.role !== undefined)) return new Set();
  const rows = await query(tools, target, "select encode(convert_to(rolname, :'encoding'), 'hex') from pg_roles", undefined, {
    encoding: props.encoding,
  });
  return new Set(rows.map(([hex]) => Buffer.from(hex, 'hex').toString('latin1')));
}
