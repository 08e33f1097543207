import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { PgTools, query } from './tools';

/** The restore target's state before anything is changed. */
export interface TargetState {
  readonly exists: boolean;
  /** User tables (including partitions) in the target; 0 when it does not exist. */
  readonly tables: number;
  /** A database on the same server to run CREATE/DROP DATABASE from. */
  readonly maintenanceDb: string;
  /** The target server's server_version_num, e.g. 150018. */
  readonly serverVersionNum: number;
}

const USER_TABLES = `from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`;

/** Finds a maintenance database on the target's server (postgres, else template1). */
async function maintenanceDb(tools: PgTools, target: DbConnection): Promise<string> {
  let firstError: unknown;
  for (const db of ['postgres', 'template1']) {
    try {
      await query(tools, target, 'select 1', db);
      return db;
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}

/** Connects to the target's server and inspects the target database. */
export async function inspectTarget(tools: PgTools, target: DbConnection): Promise<TargetState> {
  const maint = await maintenanceDb(tools, target);
  const rows = await query(
    tools,
    target,
    "select count(*), current_setting('server_version_num') from pg_database where datname = :'target'",
    maint,
    { target: target.database },
  );
  const exists = rows[0]?.[0] === '1';
  const serverVersionNum = Number(rows[0]?.[1]);
  const tables = exists ? Number((await query(tools, target, `select count(*) ${USER_TABLES}`))[0]?.[0] ?? 0) : 0;
  return { exists, tables, maintenanceDb: maint, serverVersionNum };
}

export async function createDatabase(tools: PgTools, target: DbConnection, state: TargetState): Promise<void> {
  await query(tools, target, 'create database :"target"', state.maintenanceDb, { target: target.database }).catch((err: TaskError) => {
    throw new TaskError(
      `Could not create database '${target.database}': ${err.message}. Create it yourself, or restore as a user with CREATEDB.`,
      {
        exitCode: ExitCode.DATABASE,
        stage: 'restore',
      },
    );
  });
}

/**
 * Drops the database this run created. WITH (FORCE) (PostgreSQL 13+): the session of an
 * abandoned restore may still be on its way out (its server process finishes the statement it
 * was running before it notices psql has gone), and must not make the drop fail.
 */
export async function dropDatabase(tools: PgTools, target: DbConnection, state: TargetState): Promise<void> {
  const force = state.serverVersionNum >= 130000 ? ' with (force)' : '';
  await query(tools, target, `drop database if exists :"target"${force}`, state.maintenanceDb, { target: target.database });
}

/**
 * Renames the database `from` (on the target's server) to the target's own name: a parallel
 * restore's temporary database, once complete and checked. Fails if the name was taken meanwhile.
 */
export async function renameDatabase(tools: PgTools, target: DbConnection, from: string, state: TargetState): Promise<void> {
  await query(tools, target, 'alter database :"from" rename to :"target"', state.maintenanceDb, { from, target: target.database }).catch(
    (err: TaskError) => {
      throw new TaskError(`Could not rename the restored database '${from}' to '${target.database}': ${err.message}`, {
        exitCode: ExitCode.DATABASE,
        stage: 'restore',
      });
    },
  );
}

/**
 * Counts user tables and their rows (exact counts; partitions counted once, as leaves). psql's
 * \gexec runs one `count(*)` per table: plain SQL, no optional server feature (the former
 * `xpath(query_to_xml(…))` needed a server built with libxml).
 */
export async function countContent(tools: PgTools, target: DbConnection): Promise<{ tables: number; rows: number }> {
  const counts = await query(
    tools,
    target,
    `select format('select count(*) from %I.%I', n.nspname, c.relname)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
     \\gexec`,
  );
  return { tables: counts.length, rows: counts.reduce((sum, [n]) => sum + Number(n), 0) };
}
