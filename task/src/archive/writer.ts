import { Transform, TransformCallback } from 'node:stream';

/**
 * Writes a custom-format archive (what `pg_dump -Fc` writes, and stock `pg_restore` reads) that
 * holds the data of one table, or of one block range of it: the pieces of a parallel backup. The
 * layout follows pg_dump's own (src/bin/pg_dump/pg_backup_archiver.c WriteHead, WriteToc;
 * pg_backup_custom.c _WriteExtraToc, _StartData, _CustomWriteFunc, _EndData) as it writes to a
 * pipe: a header, a table of contents of four entries (ENCODING, STDSTRINGS, SEARCHPATH, and the
 * TABLE DATA entry with its COPY statement), then the data block: `COPY … TO STDOUT` text,
 * compressed as one stream and cut into length-prefixed chunks, ended by a zero length. A piece
 * therefore restores with `pg_restore --data-only -d <db>` alone, as pg_dump's archives do.
 */
export interface DataArchiveSpec {
  /**
   * Archive format: 1.14 for pg_restore 12-15 (gzip or none), 1.15 for pg_restore 16 and later
   * (gzip, zstd or none). The backup writes the format its own pg_dump writes, or the newest of
   * these below it, so that the pg_restore that reads its other pieces reads these too.
   */
  readonly format: '1.14' | '1.15';
  readonly compression: 'none' | 'gzip' | 'zstd';
  /** The database the data comes from, and the versions, for the header (informational to pg_restore). */
  readonly database: string;
  readonly serverVersion: string;
  readonly dumpVersion: string;
  /** The data's encoding (the server's; COPY text is in it) and how its literals read. */
  readonly encoding: string;
  /** The table: its schema and name (as the catalog has them), owner, and the columns the COPY carries, in order. */
  readonly table: { readonly schema: string; readonly name: string; readonly owner: string; readonly columns: readonly string[] };
  /** The table's OID, as pg_dump records it in the entry (informational). */
  readonly oid: number;
  /** When the archive was made (the header's time, in UTC). */
  readonly createdAt: Date;
}

const INT_SIZE = 4;
const OFF_SIZE = 8;
const FORMAT_CUSTOM = 1;
const SECTION = { preData: 2, data: 3 } as const;
const OFFSET = { posNotSet: 1, noData: 3 } as const;
const BLK_DATA = 1;
const ALGORITHM = { none: 0, gzip: 1, zstd: 3 } as const;
/** The dump ID of the one data entry; the three settings entries come before it. */
const DATA_ID = 4;

/** pg_dump's WriteInt: a sign byte, then INT_SIZE bytes, least significant first. */
function int(value: number): Buffer {
  const out = Buffer.alloc(1 + INT_SIZE);
  out[0] = value < 0 ? 1 : 0;
  out.writeUInt32LE(Math.abs(value), 1);
  return out;
}

/** pg_dump's WriteStr: a length and the bytes (UTF-8), or -1 for NULL. */
function str(value: string | undefined): Buffer {
  if (value === undefined) return int(-1);
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([int(bytes.length), bytes]);
}

/** An identifier quoted as pg_dump's fmtId would accept it: always, so any name is exactly itself. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for a SET with standard_conforming_strings on. */
function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function header(spec: DataArchiveSpec): Buffer {
  const [major, minor] = spec.format.split('.').map(Number);
  const t = spec.createdAt;
  const parts: Buffer[] = [Buffer.from('PGDMP', 'latin1'), Buffer.from([major, minor, 0, INT_SIZE, OFF_SIZE, FORMAT_CUSTOM])];
  if (spec.format === '1.15') parts.push(Buffer.from([ALGORITHM[spec.compression]]));
  else {
    if (spec.compression === 'zstd') throw new Error('archive format 1.14 cannot hold zstd-compressed data');
    parts.push(int(spec.compression === 'gzip' ? -1 : 0)); // the zlib level; -1 is zlib's default
  }
  // struct tm: sec, min, hour, mday, mon (0-11), year (since 1900), isdst
  for (const v of [t.getUTCSeconds(), t.getUTCMinutes(), t.getUTCHours(), t.getUTCDate(), t.getUTCMonth(), t.getUTCFullYear() - 1900, 0])
    parts.push(int(v));
  parts.push(str(spec.database), str(spec.serverVersion), str(spec.dumpVersion));
  return Buffer.concat(parts);
}

interface Entry {
  readonly dumpId: number;
  readonly hadDumper: boolean;
  readonly oid: number;
  readonly tag: string;
  readonly desc: string;
  readonly section: number;
  readonly defn?: string;
  readonly copyStmt?: string;
  readonly namespace?: string;
  readonly owner?: string;
  readonly offsetState: number;
}

/** One TOC entry, field by field as WriteToc writes them for formats 1.14 and 1.15 (no relkind, which 1.16 added). */
function entry(e: Entry): Buffer {
  return Buffer.concat([
    int(e.dumpId),
    int(e.hadDumper ? 1 : 0),
    str('0'), // tableoid
    str(String(e.oid)),
    str(e.tag),
    str(e.desc),
    int(e.section),
    str(e.defn),
    str(undefined), // dropStmt
    str(e.copyStmt),
    str(e.namespace),
    str(undefined), // tablespace
    str(undefined), // tableam
    str(e.owner),
    str('false'), // withOids
    str(undefined), // end of the dependency list
    Buffer.from([e.offsetState]), // _WriteExtraToc: the data offset's state, then OFF_SIZE bytes
    Buffer.alloc(OFF_SIZE),
  ]);
}

/**
 * The bytes before the data: the header, the table of contents, and the start of the data block.
 * What follows is the compressed COPY text framed by {@link DataChunks}.
 */
export function dataArchiveHead(spec: DataArchiveSpec): Buffer {
  const { table } = spec;
  const settings = (dumpId: number, desc: string, defn: string): Entry => ({
    dumpId,
    hadDumper: false,
    oid: 0,
    tag: desc,
    desc,
    section: SECTION.preData,
    defn,
    offsetState: OFFSET.noData,
  });
  const columns = table.columns.map(quoteIdent).join(', ');
  const entries = [
    settings(1, 'ENCODING', `SET client_encoding = ${literal(spec.encoding)};\n`),
    settings(2, 'STDSTRINGS', "SET standard_conforming_strings = 'on';\n"),
    settings(3, 'SEARCHPATH', "SELECT pg_catalog.set_config('search_path', '', false);\n"),
    {
      dumpId: DATA_ID,
      hadDumper: true,
      oid: spec.oid,
      tag: table.name,
      desc: 'TABLE DATA',
      section: SECTION.data,
      copyStmt: `COPY ${quoteIdent(table.schema)}.${quoteIdent(table.name)} (${columns}) FROM stdin;\n`,
      namespace: table.schema,
      owner: table.owner,
      offsetState: OFFSET.posNotSet,
    },
  ];
  return Buffer.concat([header(spec), int(entries.length), ...entries.map(entry), Buffer.from([BLK_DATA]), int(DATA_ID)]);
}

/**
 * Frames a compressed stream as the custom format's data chunks: each chunk it receives becomes
 * a length and those bytes (split so that no length exceeds what an int holds), and its end a
 * length of zero, the end of the entry's data.
 */
export class DataChunks extends Transform {
  private static readonly MAX_CHUNK = 1 << 30;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let at = 0; at < chunk.length; at += DataChunks.MAX_CHUNK) {
      const part = chunk.subarray(at, at + DataChunks.MAX_CHUNK);
      this.push(int(part.length));
      this.push(part);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    callback(null, int(0));
  }
}
