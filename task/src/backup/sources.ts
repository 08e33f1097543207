import { DumpProcess, startDump } from '../postgres/dump';
import { TOOL_VERSION } from '../version';
import { Source } from './check';
import { PiecePlan, TableFacts } from './pieces';
import { PieceCompression, startTablePiece } from './table-piece';
import { BackupInput } from './types';

/**
 * What every piece of a parallel backup is started from: plain data, so that a piece thread
 * receives it as it is (a structured clone) and starts its pieces itself.
 */
export interface PieceSources {
  readonly input: BackupInput;
  readonly source: Source;
  /** The snapshot every piece reads under (pg_export_snapshot()). */
  readonly snapshot: string;
  /** The pieces' COPY text's encoding: UTF8 (the server converts), or SQL_ASCII as is. */
  readonly encoding: string;
  readonly compression: PieceCompression;
  readonly zstd?: string;
  readonly createdAt: Date;
}

/** The archive format this CLI writes its pieces in: what the backup's pg_restore reads (1.15 from 16, else 1.14). */
export function pieceFormat(pgDumpVersionNum: number): '1.14' | '1.15' {
  return pgDumpVersionNum >= 160000 ? '1.15' : '1.14';
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** pg_dump's pattern for exactly one table: both names quoted, so that no character is a wildcard. */
const exactPattern = (t: TableFacts) => `${quote(t.schema)}.${quote(t.name)}`;

/** pg_dump's option to leave large objects out: renamed in 16, the old name kept as deprecated. */
const noLargeObjects = (pgDumpVersionNum: number) => (pgDumpVersionNum >= 160000 ? '--no-large-objects' : '--no-blobs');

/** Starts one piece: pg_dump for the schema and the rest, this CLI's own COPY for a table. */
export function startPiece(piece: PiecePlan, s: PieceSources): DumpProcess {
  const { input } = s;
  const snapshot = `--snapshot=${s.snapshot}`;
  // The pre- and post-data sections, not --schema-only: a populated materialized view's REFRESH
  // is post-data, and --schema-only (like --data-only) leaves it out, so its data would be lost.
  // Without large objects, which the rest holds: pg_dump 16 and older put their entries in
  // pre-data, and the rest's lo_create would then fail on the same OID.
  if (piece.kind === 'schema')
    return startDump(input.tools, input.conn, {
      compress: s.source.compress,
      extraArgs: ['--section=pre-data', '--section=post-data', noLargeObjects(s.source.pgDump.num), snapshot],
    });
  if (piece.kind === 'rest') {
    const excluded = piece.excluded.map((t) => `--exclude-table-data=${exactPattern(t)}`);
    return startDump(input.tools, input.conn, { compress: s.source.compress, extraArgs: ['--data-only', snapshot, ...excluded] });
  }
  return startTablePiece(input.tools, input.conn, {
    snapshot: s.snapshot,
    encoding: s.encoding,
    table: piece.table,
    range: piece.range,
    compression: s.compression,
    zstd: s.zstd,
    archive: {
      format: pieceFormat(s.source.pgDump.num),
      database: input.conn.database,
      serverVersion: s.source.server.version,
      dumpVersion: `${s.source.pgDump.text} (pg-s3-backup ${TOOL_VERSION})`,
      createdAt: s.createdAt,
    },
  });
}
