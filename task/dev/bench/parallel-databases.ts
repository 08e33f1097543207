import { LocalPostgres } from '../../../test/support/postgres/local-postgres';

/** The shapes of database the parallel rounds compare `--jobs 2` with `--jobs 1` on. */
export type Shape = 'equal' | 'dominant';

export interface ShapedDatabase {
  readonly name: string;
  readonly shape: Shape;
  /** pg_database_size() after loading. */
  readonly sizeBytes: number;
  /** Each table's pg_total_relation_size(), largest first. */
  readonly tables: Record<string, number>;
  /** The largest table's share of the tables' total. */
  readonly largestShare: number;
}

/**
 * Each table's share of the database: `equal`, four comparable tables (a quarter each);
 * `dominant`, one table of ~90 % beside four small ones that share the rest (each below half
 * the default 64 MiB piece size at 1 GB, so they go into the one `pg_dump --data-only` piece).
 */
const TABLES: Record<Shape, readonly { readonly name: string; readonly share: number }[]> = {
  equal: [
    { name: 'events_a', share: 0.25 },
    { name: 'events_b', share: 0.25 },
    { name: 'events_c', share: 0.25 },
    { name: 'events_d', share: 0.25 },
  ],
  dominant: [
    { name: 'events', share: 0.9 },
    { name: 'accounts', share: 0.025 },
    { name: 'sessions', share: 0.025 },
    { name: 'invoices', share: 0.025 },
    { name: 'notes', share: 0.025 },
  ],
};

/**
 * Bytes per row of `ROWS` in pg_total_relation_size (heap and primary key), measured on
 * PostgreSQL 18: the row count is derived from it, and the load reports the real sizes.
 */
const BYTES_PER_ROW = 330;

/**
 * Event-like rows, deterministic (no random(): two runs load the same bytes): a key, a time, a
 * small integer, a short label, hex text that compresses about 2:1 and a jsonb document.
 * `:lo` and `:hi` bound the ids.
 */
const ROWS = (table: string, lo: number, hi: number) => `
insert into ${table} select g, timestamptz '2024-01-01' + g * interval '250 milliseconds', (g * 7919) % 100000,
  (array['view','click','search','add_to_cart','checkout','login'])[1 + g % 6],
  md5(g::text) || ' ' || md5((g * 31)::text),
  jsonb_build_object('path', '/product/' || (g * 13) % 5000, 'ms', (g * 17) % 900,
    'ip', '10.' || (g % 256) || '.' || ((g / 256) % 256) || '.' || (g * 7) % 255, 'ref', md5((g * 3)::text))
  from generate_series(${lo}::bigint, ${hi}) g;`;

/**
 * Creates database `name` of about `sizeBytes` in the given shape (about 1 minute per GB here),
 * ends with VACUUM FREEZE (no timed run sets hint bits), and reports what it holds.
 */
export async function loadShapedDatabase(pg: LocalPostgres, name: string, shape: Shape, sizeBytes: number): Promise<ShapedDatabase> {
  await pg.createDatabase(name);
  for (const { name: table, share } of TABLES[shape]) {
    const rows = Math.max(1000, Math.round((sizeBytes * share) / BYTES_PER_ROW));
    await pg.psql(
      `create table ${table} (id bigint primary key, at timestamptz not null, account bigint not null, kind text not null, note text, payload jsonb);`,
      { database: name },
    );
    // In slices of a million rows, so that no single statement holds the whole table in memory.
    for (let lo = 1; lo <= rows; lo += 1_000_000) await pg.psql(ROWS(table, lo, Math.min(rows, lo + 999_999)), { database: name });
  }
  await pg.psql('vacuum (freeze, analyze)', { database: name });
  const out = await pg.psql(
    "select pg_database_size(current_database()), string_agg(c.relname || '=' || pg_total_relation_size(c.oid), ',' order by pg_total_relation_size(c.oid) desc) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and n.nspname = 'public'",
    { database: name },
  );
  const [size, list] = out.trim().split('|');
  const tables = Object.fromEntries(list.split(',').map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])]));
  const sizes = Object.values(tables);
  return { name, shape, sizeBytes: Number(size), tables, largestShare: Math.max(...sizes) / sizes.reduce((a, b) => a + b, 0) };
}
