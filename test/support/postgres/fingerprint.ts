import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { LocalPostgres } from './local-postgres';
import { PsqlServer } from './psql';

/**
 * What a database holds, in a form two databases can be compared by: per table a row count
 * and an order-independent content hash, sequences, large objects, and the names of
 * schema objects (views, functions, triggers, policies, types, extensions).
 */
export interface DatabaseFingerprint {
  /** "schema.table" -> { rows, hash }. Leaf tables only (partitions, not their parents). */
  readonly tables: Record<string, { rows: number; hash: string }>;
  /** "schema.sequence" -> last_value ('unused' before first use). */
  readonly sequences: Record<string, string>;
  /** OID -> md5 of the large object's content. */
  readonly largeObjects: Record<string, string>;
  /** Sorted names per kind: view, matview, function, trigger, policy, type, extension, rls. */
  readonly objects: Record<string, string[]>;
}

const SCHEMAS_FILTER =
  "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'";

/** Loads task/dev/sample-app.sql into an existing, empty database. */
export async function loadSampleApp(pg: LocalPostgres, database: string, options: { scale?: number } = {}): Promise<void> {
  // From source (tests, test/support/postgres) the file is in ../../../task/dev; from the bundle (task/dist/demo.js), in ../dev.
  const file = [join(__dirname, '..', '..', '..', 'task', 'dev', 'sample-app.sql'), join(__dirname, '..', 'dev', 'sample-app.sql')].find(
    (f) => existsSync(f),
  )!;
  const sql = readFileSync(file, 'utf8');
  const child = spawn(join(pg.binDir, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `scale=${options.scale ?? 1}`], {
    env: { ...process.env, ...pg.env(database) },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.end(sql);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`Loading the sample app into ${database} failed: ${err.trim()}`);
}

async function rows(pg: PsqlServer, database: string, sql: string): Promise<string[][]> {
  const out = await pg.psql(`\\pset fieldsep '\\t'\n${sql}`, { database });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

export async function fingerprintDatabase(pg: PsqlServer, database: string): Promise<DatabaseFingerprint> {
  const tableList = await rows(
    pg,
    database,
    `select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and ${SCHEMAS_FILTER} order by 1`,
  );
  const tables: DatabaseFingerprint['tables'] = {};
  if (tableList.length > 0) {
    // One query: per table, count and md5 over the sorted md5s of its rows' text form.
    const union = tableList
      .map(
        ([t]) =>
          `select ${literal(t)}, count(*), coalesce(md5(string_agg(h, '' order by h)), '-') from (select md5(x::text) as h from ${t} x) s`,
      )
      .join('\nunion all\n');
    for (const [t, n, h] of await rows(pg, database, union)) tables[t] = { rows: Number(n), hash: h };
  }
  const sequences: Record<string, string> = {};
  // last_value is null until the sequence is first used.
  for (const [s, v] of await rows(
    pg,
    database,
    `select format('%I.%I', schemaname, sequencename), coalesce(last_value::text, 'unused') from pg_sequences order by 1`,
  ))
    sequences[s] = v;
  const largeObjects: Record<string, string> = {};
  for (const [oid, md5] of await rows(pg, database, 'select oid, md5(lo_get(oid)) from pg_largeobject_metadata order by oid'))
    largeObjects[oid] = md5;
  const named = async (sql: string) => (await rows(pg, database, sql)).map((r) => r[0]).sort();
  const objects = {
    view: await named(
      `select format('%I.%I', schemaname, viewname) from pg_views where schemaname not in ('pg_catalog', 'information_schema')`,
    ),
    matview: await named(`select format('%I.%I', schemaname, matviewname) from pg_matviews`),
    function: await named(
      `select format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where ${SCHEMAS_FILTER} and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')`,
    ),
    trigger: await named(`select format('%s:%I', tgrelid::regclass, tgname) from pg_trigger where not tgisinternal`),
    policy: await named(`select format('%I.%I:%I', schemaname, tablename, policyname) from pg_policies`),
    type: await named(
      `select format('%I.%I:%s', n.nspname, t.typname, t.typtype) from pg_type t join pg_namespace n on n.oid = t.typnamespace where ${SCHEMAS_FILTER} and t.typtype in ('e', 'd', 'c') and not exists (select 1 from pg_class c where c.oid = t.typrelid and c.relkind <> 'c') and not exists (select 1 from pg_depend d where d.objid = t.oid and d.deptype = 'e')`,
    ),
    extension: await named(`select extname from pg_extension`),
    rls: await named(
      `select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relrowsecurity`,
    ),
  };
  return { tables, sequences, largeObjects, objects };
}

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Human-readable differences between two fingerprints; empty when they are equal. */
export function diffFingerprints(a: DatabaseFingerprint, b: DatabaseFingerprint): string[] {
  const out: string[] = [];
  const compare = <T>(what: string, x: Record<string, T>, y: Record<string, T>, show: (v: T) => string) => {
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (!(k in y)) out.push(`${what} ${k}: missing in the second`);
      else if (!(k in x)) out.push(`${what} ${k}: only in the second`);
      else if (show(x[k]) !== show(y[k])) out.push(`${what} ${k}: ${show(x[k])} != ${show(y[k])}`);
    }
  };
  compare('table', a.tables, b.tables, (v) => `${v.rows} rows, hash ${v.hash}`);
  compare('sequence', a.sequences, b.sequences, (v) => v);
  compare('large object', a.largeObjects, b.largeObjects, (v) => v);
  compare('objects', a.objects, b.objects, (v) => v.join(', '));
  return out;
}
