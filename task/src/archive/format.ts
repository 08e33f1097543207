import { Readable } from 'node:stream';

/**
 * The header and table of contents of a custom-format archive (pg_dump -Fc), read by this
 * project itself, byte for byte as pg_restore reads them (src/bin/pg_dump/pg_backup_archiver.c:
 * ReadHead, ReadToc, ReadInt, ReadStr; pg_backup_custom.c: _ReadExtraToc). Reading it here,
 * rather than parsing what `pg_restore --list` prints, gives each entry's exact SQL and the
 * database the archive names, with nothing a crafted name or comment could smuggle into a line.
 */
export interface ArchiveHeader {
  /** e.g. `1.16` */
  readonly version: string;
  readonly compression: 'none' | 'gzip' | 'lz4' | 'zstd' | `unknown (${number})`;
  /** The database pg_dump was connected to, as libpq named it (PQdb): bytes as written, read as latin1 (one character per byte). */
  readonly database?: string;
  /** The server pg_dump dumped, and pg_dump's own version (archives 1.10+). */
  readonly serverVersion?: string;
  readonly dumpVersion?: string;
}

/** One entry of the table of contents. Strings are "binary strings": one character per byte (latin1). */
export interface TocEntry {
  readonly dumpId: number;
  /** e.g. `TABLE DATA`, `DATABASE PROPERTIES`, `COMMENT`. */
  readonly desc: string;
  /** e.g. the database's name for DATABASE, `DATABASE <quoted name>` for its COMMENT and ACL. */
  readonly tag: string;
  readonly owner: string;
  /** The entry's SQL: kept only for the kinds the caller asked for (memory), '' otherwise. */
  readonly defn: string;
  /** The schema of the entry's object ('' for none). */
  readonly namespace: string;
  /** A TABLE DATA entry's `COPY … FROM stdin;`, kept with `defn` ('' otherwise). */
  readonly copyStmt: string;
}

export interface ArchiveToc {
  readonly header: ArchiveHeader;
  readonly entries: readonly TocEntry[];
}

/** What this reader knows: archive formats up to PostgreSQL 18's. */
const NEWEST = { major: 1, minor: 16 };
const ALGORITHMS = ['none', 'gzip', 'lz4', 'zstd'] as const;
/** pg_dump's custom format is format byte 1 (archCustom). */
const FORMAT_CUSTOM = 1;

/** The archive is not one this reader accepts (damaged, crafted, or a format it does not know). */
export class ArchiveFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveFormatError';
  }
}

/** More bytes are needed than are buffered: the caller reads on and tries again. */
class NeedMore extends Error {}

/** A cursor over buffered bytes with pg_dump's integer and string encodings. */
class Cursor {
  public intSize = 4;
  public offSize = 8;
  public version = 0;

  constructor(
    private readonly bytes: Buffer,
    public at = 0,
  ) {}

  public byte(): number {
    if (this.at >= this.bytes.length) throw new NeedMore();
    return this.bytes[this.at++];
  }

  public take(n: number): Buffer {
    if (this.at + n > this.bytes.length) throw new NeedMore();
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** ReadInt: a sign byte (after 1.0), then intSize bytes, least significant first. */
  public int(): number {
    const negative = this.version > version(1, 0) ? this.byte() !== 0 : false;
    let value = 0;
    for (let b = 0; b < this.intSize; b++) value += this.byte() * 2 ** (8 * b);
    if (value > 0x7fffffff) throw new ArchiveFormatError(`an integer in the archive is out of range (${value})`);
    return negative ? -value : value;
  }

  /** ReadStr: a length (-1 for NULL), then that many bytes; NUL inside is refused (pg_restore would read up to it). */
  public str(): string | undefined {
    const length = this.int();
    if (length < 0) return undefined;
    const raw = this.take(length);
    if (raw.includes(0)) throw new ArchiveFormatError('a string in the archive holds a NUL byte');
    return raw.toString('latin1');
  }
}

const version = (major: number, minor: number, rev = 0) => (major << 16) | (minor << 8) | rev;

/**
 * Parses the header at the cursor into `out`, field by field (so that a caller holding only the
 * first bytes still learns the format and the compression); throws NeedMore when it runs out.
 */
function readHeader(c: Cursor, out: { -readonly [K in keyof ArchiveHeader]?: ArchiveHeader[K] } = {}, strict = true): ArchiveHeader {
  if (c.take(5).toString('latin1') !== 'PGDMP') throw new ArchiveFormatError('not a custom-format archive (no PGDMP magic)');
  const major = c.byte();
  const minor = c.byte();
  const rev = major > 1 || (major === 1 && minor > 0) ? c.byte() : 0;
  c.version = version(major, minor, rev);
  out.version = `${major}.${minor}`;
  // A newer format is read as the newest known (for messages about it) unless `strict`.
  if (c.version < version(1, 0) || (strict && c.version > version(NEWEST.major, NEWEST.minor, 255)))
    throw new ArchiveFormatError(`archive format ${major}.${minor} is not one this reader knows (up to ${NEWEST.major}.${NEWEST.minor})`);
  c.intSize = c.byte();
  if (c.intSize < 1 || c.intSize > 8) throw new ArchiveFormatError(`integer size ${c.intSize} in the header is not sane`);
  c.offSize = c.version >= version(1, 7) ? c.byte() : c.intSize;
  if (c.offSize < 1 || c.offSize > 16) throw new ArchiveFormatError(`offset size ${c.offSize} in the header is not sane`);
  const format = c.byte();
  if (format !== FORMAT_CUSTOM) throw new ArchiveFormatError(`archive format byte ${format} is not the custom format (${FORMAT_CUSTOM})`);
  out.compression = 'gzip';
  if (c.version >= version(1, 15)) {
    const alg = c.byte();
    out.compression = ALGORITHMS[alg] ?? `unknown (${alg})`;
  } else if (c.version >= version(1, 2)) {
    const level = c.version < version(1, 4) ? c.byte() : c.int();
    out.compression = level === 0 ? 'none' : 'gzip';
  }
  if (c.version >= version(1, 4)) {
    for (let i = 0; i < 7; i++) c.int(); // creation time: sec, min, hour, mday, mon, year, isdst
    out.database = c.str();
  }
  if (c.version >= version(1, 10)) {
    out.serverVersion = c.str();
    out.dumpVersion = c.str();
  }
  return out as ArchiveHeader;
}

/**
 * Parses an archive's header from its first bytes (the 4 KiB a ranged GET reads), a format newer
 * than this reader knows as the newest it knows (for messages: pg_restore judges what it can
 * read). When the bytes end inside the header, what was read before (format and compression) is
 * returned without the names. Undefined when the bytes are not a custom-format archive.
 */
export function parseArchiveHeader(bytes: Buffer): ArchiveHeader | undefined {
  const out: { -readonly [K in keyof ArchiveHeader]?: ArchiveHeader[K] } = {};
  try {
    return readHeader(new Cursor(bytes), out, false);
  } catch (err) {
    return err instanceof NeedMore && out.compression !== undefined ? (out as ArchiveHeader) : undefined;
  }
}

/** Reads one TOC entry (ReadToc's loop body, then the custom format's data offset). */
function readEntry(c: Cursor, keepDefn: (desc: string) => boolean): TocEntry {
  const v = c.version;
  const dumpId = c.int();
  if (dumpId <= 0) throw new ArchiveFormatError(`entry ID ${dumpId} out of range`);
  c.int(); // hadDumper
  if (v >= version(1, 8)) c.str(); // tableoid
  c.str(); // oid
  const tag = c.str() ?? '';
  const desc = c.str() ?? '';
  if (v >= version(1, 11)) c.int(); // section
  const defn = c.str() ?? '';
  c.str(); // dropStmt
  const copyStmt = v >= version(1, 3) ? (c.str() ?? '') : '';
  const namespace = v >= version(1, 6) ? (c.str() ?? '') : '';
  if (v >= version(1, 10)) c.str(); // tablespace
  if (v >= version(1, 14)) c.str(); // tableam
  if (v >= version(1, 16)) c.int(); // relkind
  const owner = c.str() ?? '';
  if (v >= version(1, 9) && c.str() === 'true')
    throw new ArchiveFormatError(`entry ${dumpId} (${desc}) has WITH OIDS, which no supported pg_restore restores`);
  if (v >= version(1, 5)) while (c.str() !== undefined); // dependencies, ended by a NULL
  // The custom format's data offset: a state byte and offSize bytes (an int before 1.7).
  if (v >= version(1, 7)) {
    c.byte();
    c.take(c.offSize);
  } else c.int();
  const kept = keepDefn(desc);
  return { dumpId, desc, tag, owner, defn: kept ? defn : '', namespace, copyStmt: kept ? copyStmt : '' };
}

export interface ReadTocOptions {
  /** Entry kinds whose SQL to keep (e.g. the database's own entries); others keep only desc, tag and owner. @default none */
  readonly keepDefn?: (desc: string) => boolean;
  /** Refuse a table of contents larger than this. @default 256 MiB */
  readonly maxBytes?: number;
}

/**
 * Reads the header and the whole table of contents from the front of an archive stream, then
 * stops reading (the caller destroys the stream: the data that follows is not needed). Throws
 * {@link ArchiveFormatError} when the bytes are not an archive this reader accepts, or end early.
 */
export async function readArchiveToc(stream: Readable, options: ReadTocOptions = {}): Promise<ArchiveToc> {
  const keep = options.keepDefn ?? (() => false);
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  let buffered: Buffer = Buffer.alloc(0);
  let header: ArchiveHeader | undefined;
  let state: Pick<Cursor, 'intSize' | 'offSize' | 'version'> | undefined;
  let count: number | undefined;
  const entries: TocEntry[] = [];
  for await (const chunk of stream) {
    buffered = buffered.length === 0 ? (chunk as Buffer) : Buffer.concat([buffered, chunk as Buffer]);
    let consumed = 0;
    try {
      const c = new Cursor(buffered);
      if (state) Object.assign(c, state);
      if (!header) {
        header = readHeader(c);
        state = { intSize: c.intSize, offSize: c.offSize, version: c.version };
        consumed = c.at;
      }
      if (count === undefined) {
        count = c.int();
        if (count < 0) throw new ArchiveFormatError(`entry count ${count} out of range`);
        consumed = c.at;
      }
      while (entries.length < count) {
        entries.push(readEntry(c, keep));
        consumed = c.at;
      }
    } catch (err) {
      if (!(err instanceof NeedMore)) throw err;
    }
    if (header && count !== undefined && entries.length === count) return { header, entries };
    buffered = buffered.subarray(consumed);
    if (buffered.length > maxBytes) throw new ArchiveFormatError(`an entry of the table of contents is larger than ${maxBytes} bytes`);
  }
  throw new ArchiveFormatError(
    header
      ? `the archive ends inside its table of contents (${entries.length} of ${count ?? '?'} entries read)`
      : 'the archive ends inside its header',
  );
}
