/**
 * The archive reader against archives written here the way pg_dump writes them
 * (pg_backup_archiver.c WriteHead/WriteToc, pg_backup_custom.c _WriteExtraToc), and then
 * damaged or crafted. Real pg_dump archives are read by the integration suites
 * (restore.test.ts, restore-trust.test.ts) on PostgreSQL 15 and 18.
 */
import { Readable } from 'node:stream';
import { ArchiveFormatError, parseArchiveHeader, readArchiveToc } from '../../../../task/src/archive/format';

interface Entry {
  dumpId: number;
  desc: string;
  tag: string;
  defn?: string;
  owner?: string;
  withOids?: string;
}

/** An archive's header and TOC, format 1.16 (PostgreSQL 17 and 18), 4-byte ints and 8-byte offsets. */
function archive(entries: Entry[], options: { database?: string; intValue?: (n: number) => Buffer } = {}): Buffer {
  const int =
    options.intValue ?? ((n: number) => Buffer.from([n < 0 ? 1 : 0, ...[0, 1, 2, 3].map((b) => (Math.abs(n) >> (8 * b)) & 0xff)]));
  const str = (s: string | null) => (s === null ? int(-1) : Buffer.concat([int(Buffer.byteLength(s, 'latin1')), Buffer.from(s, 'latin1')]));
  const parts: Buffer[] = [Buffer.from('PGDMP'), Buffer.from([1, 16, 0, 4, 8, 1, 3])];
  for (const v of [1, 2, 3, 4, 5, 126, 0]) parts.push(int(v));
  parts.push(str(options.database ?? 'app'), str('18.6'), str('18.6'), int(entries.length));
  for (const e of entries) {
    parts.push(int(e.dumpId), int(0), str('0'), str('0'), str(e.tag), str(e.desc), int(1), str(e.defn ?? ''), str(''), str(''));
    parts.push(str(''), str(''), str(''), int(0), str(e.owner ?? 'postgres'), str(e.withOids ?? 'false'), str('1'), str(null));
    parts.push(Buffer.from([3]), Buffer.alloc(8));
  }
  parts.push(Buffer.from('data blocks follow'));
  return Buffer.concat(parts);
}

/** The bytes as a stream of small chunks, so that every field is split across chunk boundaries somewhere. */
const chunked = (bytes: Buffer, size = 7) =>
  Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)));

const ENTRIES: Entry[] = [
  { dumpId: 1, desc: 'ENCODING', tag: 'ENCODING', defn: "SET client_encoding = 'UTF8';\n" },
  { dumpId: 2, desc: 'DATABASE', tag: 'app', defn: 'CREATE DATABASE app;\n' },
  { dumpId: 3, desc: 'COMMENT', tag: 'DATABASE app', defn: "COMMENT ON DATABASE app IS 'x';\n" },
  { dumpId: 4, desc: 'TABLE', tag: 't', defn: 'CREATE TABLE t (x int);\n' },
  { dumpId: 5, desc: 'TABLE DATA', tag: 't' },
];

describe('readArchiveToc', () => {
  test('reads the header and every entry, across any chunking, keeping the SQL only of the kinds asked for', async () => {
    const bytes = archive(ENTRIES, { database: 'app' });
    for (const size of [1, 7, 64, bytes.length]) {
      const toc = await readArchiveToc(chunked(bytes, size), { keepDefn: (d) => d === 'COMMENT' });
      expect(toc.header).toEqual({ version: '1.16', compression: 'zstd', database: 'app', serverVersion: '18.6', dumpVersion: '18.6' });
      expect(toc.entries.map((e) => [e.dumpId, e.desc, e.tag, e.defn])).toEqual([
        [1, 'ENCODING', 'ENCODING', ''],
        [2, 'DATABASE', 'app', ''],
        [3, 'COMMENT', 'DATABASE app', "COMMENT ON DATABASE app IS 'x';\n"],
        [4, 'TABLE', 't', ''],
        [5, 'TABLE DATA', 't', ''],
      ]);
    }
  });

  test.each([
    ['ends inside its table of contents', () => archive(ENTRIES).subarray(0, 200), /ends inside its table of contents/],
    ['ends inside its header', () => archive(ENTRIES).subarray(0, 30), /ends inside its header/],
    [
      'holds a NUL byte in a string',
      () => archive([{ dumpId: 1, desc: 'COMMENT', tag: 'DATABASE app', defn: 'COMMENT\0 ON' }]),
      /NUL byte/,
    ],
    ['has an entry ID that is not positive', () => archive([{ dumpId: 0, desc: 'TABLE', tag: 't' }]), /entry ID 0 out of range/],
    ['has WITH OIDS', () => archive([{ dumpId: 1, desc: 'TABLE', tag: 't', withOids: 'true' }]), /WITH OIDS/],
    ['is not an archive', () => Buffer.from('-- PostgreSQL database dump\n'.repeat(4)), /no PGDMP magic/],
    [
      'has an integer beyond 32 bits',
      () => archive(ENTRIES, { intValue: (n) => Buffer.from([0, n & 0xff, 0, 0, n === 2 ? 0x80 : 0]) }),
      /out of range/,
    ],
  ])('refuses an archive that %s', async (_what, make, message) => {
    await expect(readArchiveToc(chunked(make()))).rejects.toThrow(ArchiveFormatError);
    await expect(readArchiveToc(chunked(make()))).rejects.toThrow(message);
  });

  test('refuses a format newer than it knows; parseArchiveHeader still reads it for messages', async () => {
    const bytes = archive(ENTRIES);
    bytes[6] = 99;
    await expect(readArchiveToc(chunked(bytes))).rejects.toThrow(/archive format 1\.99 is not one this reader knows/);
    expect(parseArchiveHeader(bytes)).toMatchObject({ version: '1.99', compression: 'zstd', database: 'app' });
  });

  test('parseArchiveHeader names the database the archive was dumped from, bytes as written', () => {
    const name = Buffer.from('caf\u00e9\nx', 'utf8').toString('latin1');
    expect(parseArchiveHeader(archive(ENTRIES, { database: name }))?.database).toBe(name);
  });
});
