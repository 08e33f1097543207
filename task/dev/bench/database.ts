import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalPostgres } from '../../../test/support/postgres/local-postgres';

/** Bump when the generated data changes, so that old caches are not reused. */
const GENERATOR_VERSION = 2;
const DATABASE = 'bench';

export interface BenchDatabase {
  readonly name: string;
  /** pg_database_size() after loading. */
  readonly sizeBytes: number;
  readonly rows: Record<string, number>;
  /** Where it came from this time, and how long that took. */
  readonly source: 'generated' | 'cache';
  readonly setupSeconds: number;
}

/**
 * Mixed application-like data: customers, orders, events with jsonb, and documents with
 * longer prose (TOASTed) and a few random bytes, so that gzip meets both compressible
 * and incompressible columns. One batch adds roughly 70 MB; psql's `:batch` is the batch number.
 */
const SCHEMA = `
create table customers (id bigint primary key, name text not null, email text not null, country char(2), created_at timestamptz, attrs jsonb);
create table orders (id bigint primary key, customer_id bigint not null, status text not null, total numeric(12,2), currency char(3), created_at timestamptz, shipped_at timestamptz, note text);
create table events (id bigint primary key, at timestamptz not null, user_id bigint, kind text not null, session text, payload jsonb);
create table documents (id bigint primary key, title text, body text, digest bytea);
create table attachments (id bigint primary key, document_id bigint not null, content_type text, data bytea);
-- plpgsql, so that a call with a constant argument is not folded into one value for all rows.
create function words(n int) returns text language plpgsql volatile as $$ begin
  return (select string_agg((array['the','order','was','shipped','to','customer','after','payment','of','invoice','lorem','ipsum','dolor','sit','amet',
    'delivery','warehouse','returned','pending','refund','account','review','great','product','quality','price','fast','slow','package','box',
    'address','street','city','please','contact','support','thanks','again','item','size','color','blue','red','green','large','small','new','old','in','and'])[1 + (random() * 49)::int]
    -- Prose in real rows carries names, numbers and codes: one token in four is one.
    || case when random() < 0.25 then ' ' || (array[(random() * 100000)::int::text, upper(substr(md5(random()::text), 1, 6)), initcap(substr(md5(random()::text), 1, 5 + (random() * 4)::int))])[1 + (random() * 2)::int] else '' end, ' ')
  from generate_series(1, n) i); end $$;
`;

const BATCH = `
select setseed((:'batch')::int / 1000.0);
insert into customers select g, 'Customer ' || g, 'user' || g || '@example.' || (array['com','org','net','de','fr'])[1 + g % 5],
  (array['US','DE','FR','GB','NL','ES','IT','JP','BR','CA'])[1 + (random() * 9)::int], timestamptz '2020-01-01' + random() * interval '6 years',
  jsonb_build_object('tier', (array['free','pro','team'])[1 + g % 3], 'newsletter', random() < 0.4, 'score', (random() * 100)::int)
  from generate_series(:batch * 20000 + 1, (:batch + 1) * 20000) g;
insert into orders select g, 1 + (random() * ((:batch + 1) * 20000 - 1))::bigint, (array['new','paid','shipped','delivered','cancelled'])[1 + (random() * 4)::int],
  round((random() * 500)::numeric, 2), (array['USD','EUR','GBP'])[1 + g % 3], timestamptz '2021-01-01' + g * interval '7 seconds',
  case when random() < 0.7 then timestamptz '2021-01-01' + g * interval '7 seconds' + random() * interval '5 days' end,
  case when random() < 0.3 then words(3 + (g % 12)::int) end
  from generate_series(:batch * 100000 + 1, (:batch + 1) * 100000) g;
insert into events select g, timestamptz '2024-01-01' + g * interval '250 milliseconds', 1 + (random() * 1e6)::bigint,
  (array['view','click','search','add_to_cart','checkout','login'])[1 + (random() * 5)::int], md5((g / 20)::text),
  jsonb_build_object('path', '/product/' || (random() * 5000)::int, 'ms', (random() * 900)::int,
    'ip', '10.' || (g % 256) || '.' || ((g / 256) % 256) || '.' || (random() * 255)::int,
    'ua', (array['Mozilla/5.0 (X11; Linux x86_64)','Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)','Mozilla/5.0 (iPhone; CPU iPhone OS 17_5)'])[1 + g % 3],
    'ref', case when random() < 0.3 then md5(g::text) end)
  from generate_series(:batch * 250000 + 1, (:batch + 1) * 250000) g;
insert into documents select g, words(6), words(100 + (g % 400)::int), decode(md5(random()::text) || md5(g::text), 'hex')
  from generate_series(:batch * 6000 + 1, (:batch + 1) * 6000) g;
-- Already-compressed files (images, PDFs) that gzip cannot shrink.
insert into attachments select g, 1 + (random() * ((:batch + 1) * 6000 - 1))::bigint, 'image/jpeg',
  (select string_agg(decode(md5(random()::text || g || i), 'hex'), '') from generate_series(1, 32 + (g % 96)::int) i)
  from generate_series(:batch * 6000 + 1, (:batch + 1) * 6000) g;
select pg_database_size(current_database());
`;

function run(program: string, args: string[], env: Record<string, string>, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${program} ${args.join(' ')} exited with ${code}: ${err.trim().slice(-2000)}`)),
    );
    child.stdin.end(input ?? '');
  });
}

async function facts(pg: LocalPostgres): Promise<{ sizeBytes: number; rows: Record<string, number> }> {
  const out = await pg.psql(
    'select pg_database_size(current_database()), (select count(*) from customers), (select count(*) from orders), (select count(*) from events), (select count(*) from documents), (select count(*) from attachments)',
    { database: DATABASE },
  );
  const [size, customers, orders, events, documents, attachments] = out.trim().split('|').map(Number);
  return { sizeBytes: size, rows: { customers, orders, events, documents, attachments } };
}

/**
 * Loads the benchmark database into `pg`: restored from the cached archive in `cacheDir`
 * when there is one for this size, generated (and cached) otherwise. Ends with VACUUM
 * FREEZE, so that no timed run pays for setting hint bits.
 */
export async function loadBenchDatabase(
  pg: LocalPostgres,
  sizeGb: number,
  cacheDir: string,
  say: (line: string) => void,
): Promise<BenchDatabase> {
  const started = Date.now();
  const tag = `bench-v${GENERATOR_VERSION}-${sizeGb}gb`;
  // The archive is named by the major of the pg_dump that wrote it, since a pg_restore reads
  // only archives of its own major or older: with the 18 toolchain built (task/dev/build-postgres.sh)
  // the bench runs on 18, and a later run with 15 must not pick up that cache.
  const major = Math.floor(Number((await pg.psql('show server_version_num')).trim()) / 10000);
  const archive = join(cacheDir, `${tag}-pg${major}.dump`);
  const readable = [
    ...Array.from({ length: major - 9 }, (_, i) => join(cacheDir, `${tag}-pg${major - i}.dump`)),
    join(cacheDir, `${tag}.dump`),
  ];
  const cached = readable.find((f) => existsSync(f)); // `${tag}.dump`: written by 15, before the names said it
  const env = pg.env(DATABASE);
  await pg.createDatabase(DATABASE);
  let source: BenchDatabase['source'];
  if (cached) {
    say(`restoring the cached database ${cached}`);
    await run(join(pg.binDir, 'pg_restore'), ['--exit-on-error', '--jobs=2', '-d', DATABASE, cached], env);
    source = 'cache';
  } else {
    say(`generating a ${sizeGb} GB database (cached afterwards in ${cacheDir})`);
    await pg.psql(SCHEMA, { database: DATABASE });
    const target = sizeGb * 1e9;
    for (let batch = 0; ; batch++) {
      const out = await run(join(pg.binDir, 'psql'), ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `batch=${batch}`], env, BATCH);
      const size = Number(out.trim().split('\n').pop());
      say(`  batch ${batch + 1}: ${(size / 1e9).toFixed(2)} GB`);
      if (size >= target) break;
    }
    mkdirSync(cacheDir, { recursive: true });
    const partial = `${archive}.partial`;
    await run(join(pg.binDir, 'pg_dump'), ['-Fc', '-Z1', '-f', partial, DATABASE], env);
    renameSync(partial, archive);
    source = 'generated';
  }
  await pg.psql('vacuum (freeze, analyze)', { database: DATABASE });
  const { sizeBytes, rows } = await facts(pg);
  writeFileSync(join(cacheDir, `${tag}.json`), JSON.stringify({ sizeBytes, rows, generatorVersion: GENERATOR_VERSION }, null, 2) + '\n');
  return { name: DATABASE, sizeBytes, rows, source, setupSeconds: (Date.now() - started) / 1000 };
}
