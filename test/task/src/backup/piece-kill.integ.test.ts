/**
 * kill() of what a backup streams (pg_dump, or a table piece: psql's COPY, its compressor and
 * the framing) must end it even when nobody reads its output any more: after a failure
 * elsewhere the upload stops reading, and a child's exit ('close') only comes once its pipe is
 * drained or closed. Real PostgreSQL, psql, pg_dump and zstd; no S3 (the output is never read).
 */
import { Writable } from 'node:stream';
import { pgTools } from '../../../../task/src/postgres/tools';
import { startDump } from '../../../../task/src/postgres/dump';
import { SnapshotSession } from '../../../../task/src/postgres/snapshot';
import { backupConfig } from '../../../../task/src/config/backup';
import { findZstd, PieceCompression, startTablePiece } from '../../../../task/src/backup/table-piece';
import { DumpProcess } from '../../../../task/src/postgres/dump';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';

let env: BackupTestEnv;

beforeAll(async () => {
  env = await startBackupTestEnv();
  await env.pg.createDatabase('pieces');
  // A table whose pg_dump (about 170 KB) goes into the pipe whole: pg_dump exits 0 with its last
  // bytes unread (1,300 to 2,000 rows did, here).
  await env.pg.psql(
    `create table tiny (id int not null, pad text not null);
     insert into tiny select g, md5(g::text) || md5((g * 3)::text) || md5((g * 7)::text) from generate_series(1, 1600) g;`,
    { database: 'pieces' },
  );
  // A table whose COPY text (about 2.2 MB) outgrows what the piece's output stream holds by
  // less than the framing and the pipe below it hold: psql finishes and exits cleanly, and the
  // framing's last bytes wait for room that never comes (21,200 to 22,400 rows did, here).
  await env.pg.psql(
    `create table small (id int not null, pad text not null);
     insert into small select g, md5(g::text) || md5((g * 3)::text) || md5((g * 7)::text) from generate_series(1, 21800) g;`,
    { database: 'pieces' },
  );
  // And one of about 30 MB of COPY text, far more than every buffer between psql and the upload.
  await env.pg.psql(
    `create table big (id int not null, pad text not null);
     insert into big select g, md5(g::text) || md5((g * 3)::text) || md5((g * 7)::text) from generate_series(1, 300000) g;`,
    { database: 'pieces' },
  );
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

const connection = () => backupConfig([], env.cliEnv('pieces', 'unused'), false).conn;

/**
 * As a backup's failure does: the output goes into a reader (the digest gate) that stops taking
 * it (the upload is stuck), so every buffer fills; then kill() and the reader destroyed. `done`
 * must settle.
 */
async function killUnread(dump: DumpProcess): Promise<unknown> {
  const stuck = new Writable({ highWaterMark: 1024, write: () => undefined }); // never calls back
  stuck.on('error', () => undefined);
  dump.stdout.pipe(stuck);
  await new Promise((r) => setTimeout(r, 1500));
  dump.kill();
  stuck.destroy(new Error('the upload failed'));
  return Promise.race([
    dump.done.then(
      () => 'resolved',
      (err: Error) => err,
    ),
    new Promise((r) => setTimeout(() => r('still running 15 s after kill()'), 15_000)),
  ]);
}

test('pg_dump: kill() ends it with its output unread', async () => {
  const dump = startDump(pgTools(env.pg.binDir), connection(), { compress: '0' });
  expect(await killUnread(dump)).toMatchObject({
    message: expect.stringMatching(/pg_dump (was killed by SIGTERM|exited with code 1: pg_dump: terminated by user)/),
  });
}, 60_000);

test('pg_dump that finished with its last bytes unread: kill() ends it', async () => {
  const dump = startDump(pgTools(env.pg.binDir), connection(), { compress: '0', extraArgs: ['--table=public.tiny'] });
  expect(await killUnread(dump)).toBe('resolved'); // it exited 0: kill() only closes its output
}, 60_000);

const methods: PieceCompression[] = [{ method: 'none' }, { method: 'gzip', level: 1 }];
if (findZstd()) methods.push({ method: 'zstd', level: 1 });
const cases: [string, PieceCompression][] = [...methods.map((m): [string, PieceCompression] => ['big', m]), ['small', { method: 'none' }]];

test.each(cases)(
  'a table piece (%s, %j): kill() ends psql, the compressor and the framing with the output unread',
  async (table, compression) => {
    const tools = pgTools(env.pg.binDir);
    const conn = connection();
    const { session, snapshot } = await SnapshotSession.open(tools, conn);
    try {
      const [oid] = await session.run(`SELECT 'public.${table}'::regclass::oid;`);
      const piece = startTablePiece(tools, conn, {
        snapshot,
        encoding: 'UTF8',
        table: { oid: Number(oid), schema: 'public', name: table, owner: env.pg.user, columns: ['id', 'pad'] },
        compression,
        zstd: findZstd(),
        archive: { format: '1.15', database: 'pieces', serverVersion: '18', dumpVersion: 'test', createdAt: new Date() },
      });
      // Killed while it ran, psql's exit says so; the small table's psql had finished, and its framing is what was cut short.
      expect(await killUnread(piece)).toMatchObject({ message: expect.stringMatching(/psql \(COPY\) was killed by SIGTERM|zstd|framing/) });
    } finally {
      await session.close();
    }
  },
  60_000,
);
