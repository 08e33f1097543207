/**
 * The shared harness itself: a throwaway cluster with real password authentication, the
 * sample application database, and fingerprints that notice a one-row change.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffFingerprints, fingerprintDatabase, loadSampleApp } from '../support/postgres/fingerprint';
import { LocalPostgres, startLocalPostgres } from '../support/postgres/local-postgres';

let pg: LocalPostgres;

beforeAll(async () => {
  pg = await startLocalPostgres();
}, 60_000);

afterAll(async () => {
  await pg?.stop();
});

test('the cluster listens on a random port with SCRAM password authentication', async () => {
  expect(pg.port).toBeGreaterThan(1024);
  expect((await pg.psql('show password_encryption')).trim()).toBe('scram-sha-256');
  const wrong = spawnSync(join(pg.binDir, 'psql'), ['-X', '-c', 'select 1'], {
    env: { ...process.env, ...pg.env(), PGPASSWORD: 'not-the-password' },
    encoding: 'utf8',
  });
  expect(wrong.status).not.toBe(0);
  expect(wrong.stderr).toMatch(/password authentication failed/);
});

test('the sample app survives pg_dump | pg_restore, and a one-row change is noticed', async () => {
  await pg.createDatabase('src');
  await loadSampleApp(pg, 'src');
  const dir = mkdtempSync(join(tmpdir(), 'harness-'));
  try {
    const file = join(dir, 'a.dump');
    const env = { ...process.env, ...pg.env('src') };
    expect(spawnSync(join(pg.binDir, 'pg_dump'), ['-Fc', '-f', file], { env }).status).toBe(0);
    await pg.createDatabase('dst');
    const restore = spawnSync(join(pg.binDir, 'pg_restore'), ['--exit-on-error', '-d', 'dst', file], {
      env: { ...process.env, ...pg.env('dst') },
      encoding: 'utf8',
    });
    expect(restore.stderr).toBe('');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const a = await fingerprintDatabase(pg, 'src');
  // The fixture holds what it promises.
  expect(Object.keys(a.tables)).toEqual(
    expect.arrayContaining([
      'shop.customers',
      'shop.orders_2025',
      'shop.orders_2026',
      '"Ünïcode"."Kunden Übersicht"',
      '"Ünïcode"."select"',
      'audit.events',
    ]),
  );
  expect(a.tables['shop.customers'].rows).toBe(500);
  expect(Object.keys(a.largeObjects)).toHaveLength(2);
  expect(a.objects.matview).toEqual(['shop.revenue_by_status']);
  expect(a.objects.extension).toEqual(expect.arrayContaining(['citext', 'pgcrypto']));
  expect(a.objects.rls).toEqual(['shop.notes']);
  expect(a.sequences['shop.invoice_numbers']).toBe('4242');
  expect(diffFingerprints(a, await fingerprintDatabase(pg, 'dst'))).toEqual([]);

  await pg.psql("update shop.products set title = 'changed' where sku = 'SKU-00007'", { database: 'dst' });
  expect(diffFingerprints(a, await fingerprintDatabase(pg, 'dst'))).toEqual([
    expect.stringMatching(/^table shop\.products: 200 rows, hash \w+ != 200 rows, hash \w+$/),
  ]);
});

test('stop() removes the cluster’s files', async () => {
  const other = await startLocalPostgres();
  expect(existsSync(other.dataDir)).toBe(true);
  await other.stop();
  expect(existsSync(other.dataDir)).toBe(false);
});
