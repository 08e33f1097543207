import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFailedExit, runCaptured } from '../child';
import { ArchiveInput, readArchive } from './pg-restore';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { PgTools, query } from './tools';

/**
 * The database-level part of an archive: `ALTER DATABASE … SET`, `ALTER ROLE … IN DATABASE …
 * SET`, the database's ACL and comment (and security label). pg_restore emits these entries
 * only with `--create`, i.e. only into a database of the source's name; restoring into a new
 * name, as the runbook does, would silently drop them. So they are read from the archive
 * (`pg_restore --create -L <those entries> -f -`), re-aimed at the target database, and
 * applied in one transaction.
 */
export interface DatabaseProperties {
  /** The database the archive was dumped from, as its entries name it. */
  readonly sourceDatabase: string;
  /** The SQL, with the database written as the psql variable `:"target"`. */
  readonly lines: readonly string[];
}

/** What was applied, in words, for the restore summary. */
export interface PropertiesReport {
  readonly applied: string[];
  /** Role settings for roles the target server does not have. */
  readonly skipped: string[];
}

/** TOC entries that belong to the database itself, as `pg_restore --list --create` prints them. */
const DATABASE_ENTRY = /^\d+; \d+ \d+ (COMMENT - DATABASE |ACL - DATABASE |DATABASE PROPERTIES - |SECURITY LABEL - DATABASE )/;
const IDENT = '(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';

const fail = (message: string) => new TaskError(message, { exitCode: ExitCode.DATABASE, stage: 'restore' });

/** Quotes an identifier as pg_dump does (fmtId): only when it must be quoted. */
function fmtId(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * Reads the database-level entries of an archive, given its table of contents (`pg_restore
 * --list --create`, {@link readTableOfContents}); none when `noAcl` drops the ACL and nothing
 * else is there.
 */
export async function readDatabaseProperties(
  tools: PgTools,
  toc: readonly string[],
  input: ArchiveInput,
  workDir: string,
  env: Readonly<Record<string, string>>,
  options: { noAcl: boolean },
): Promise<DatabaseProperties> {
  const sourceDatabase = /^;\s+dbname: (.*)$/m.exec(toc.join('\n'))?.[1];
  if (sourceDatabase === undefined) throw fail('The archive names no database (no "dbname" in its table of contents).');
  const entries = toc.filter((l) => DATABASE_ENTRY.test(l) && !(options.noAcl && l.includes(' ACL - DATABASE ')));
  if (entries.length === 0) return { sourceDatabase, lines: [] };

  const listFile = join(workDir, 'database-entries.list');
  writeFileSync(listFile, entries.join('\n') + '\n', { mode: 0o600 });
  const sql = await readArchive(tools, ['--create', '--use-list', listFile, '--file', '-'], input, env);
  if (isFailedExit(sql)) throw fail(`pg_restore could not print the archive's database entries: ${sql.stderr}`);

  // The statements name the source database; each is re-aimed at the target, once, at its start
  // (a comment's text may mention the name and must stay as it is). psql meta-commands
  // (\connect to the source name, \restrict) are dropped: the script runs on the target.
  const db = fmtId(sourceDatabase).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const statement = new RegExp(
    `^((?:ALTER DATABASE|ALTER ROLE ${IDENT} IN DATABASE|COMMENT ON DATABASE|SECURITY LABEL(?: FOR ${IDENT})? ON DATABASE|(?:GRANT|REVOKE) .*? ON DATABASE) )${db}(?= )`,
  );
  // With --create, pg_restore always prints the DATABASE entry itself (CREATE DATABASE and its
  // owner), whatever the list says: the target exists, and its owner is not the archive's to set.
  const lines = sql.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => !l.startsWith('\\') && !l.startsWith('CREATE DATABASE '))
    .map((l) => l.replace(statement, '$1:"target"'))
    .filter((l) => !/^ALTER DATABASE :"target" OWNER TO /.test(l));
  return { sourceDatabase, lines };
}

/** The statements among `lines`, one line each (a multi-line COMMENT counts by its first line). */
function statements(lines: readonly string[]): string[] {
  return lines.filter((l) => /^(ALTER|COMMENT|SECURITY|GRANT|REVOKE) .*:"target"/.test(l));
}

/**
 * Applies the properties to the target database in one transaction, skipping settings of
 * roles the target server lacks (a new instance has other roles; those are listed). With
 * `dryRun` the transaction is rolled back: a check, before a restore into an existing
 * database, that they will apply.
 */
export async function applyDatabaseProperties(
  tools: PgTools,
  target: DbConnection,
  props: DatabaseProperties,
  dryRun = false,
): Promise<PropertiesReport> {
  const roles = new Set((await query(tools, target, 'select rolname from pg_roles')).map((r) => fmtId(r[0])));
  const skipped: string[] = [];
  const roleSetting = new RegExp(`^ALTER ROLE (${IDENT}) IN DATABASE :"target" SET (\\S+)`);
  const lines = props.lines.filter((l) => {
    const m = roleSetting.exec(l);
    if (!m || roles.has(m[1])) return true;
    skipped.push(`role ${m[1]}: SET ${m[2]} (no such role on the target server)`);
    return false;
  });
  const applied = statements(lines).map(describe);
  if (applied.length === 0) return { applied, skipped };
  const script = ['\\set ON_ERROR_STOP on', 'BEGIN;', ...lines, dryRun ? 'ROLLBACK;' : 'COMMIT;'].join('\n');
  const run = await runCaptured(tools.psql, ['-X', '--no-password', '-q', '-v', `target=${target.database}`], {
    env: target.childEnv,
    input: script,
  });
  if (isFailedExit(run) || /ERROR:/.test(run.stderr)) {
    throw fail(
      `Applying the database's own settings, privileges and comment (from '${props.sourceDatabase}') to '${target.database}' failed: ${run.stderr.trim()}. ` +
        'Create the roles they name first, or restore with --no-database-properties (and --no-acl) and set them by hand.',
    );
  }
  return { applied, skipped };
}

/** `ALTER DATABASE :"target" SET x TO 'y';` → `SET x`, and so on. */
function describe(line: string): string {
  const set = /^ALTER DATABASE :"target" SET (\S+)/.exec(line);
  if (set) return `SET ${set[1]}`;
  const role = /^ALTER ROLE (\S+) IN DATABASE :"target" SET (\S+)/.exec(line);
  if (role) return `role ${role[1]}: SET ${role[2]}`;
  if (line.startsWith('COMMENT ')) return 'COMMENT';
  if (line.startsWith('SECURITY LABEL')) return 'SECURITY LABEL';
  return line.replace(/ ON DATABASE :"target"/, '').replace(/;$/, '');
}
