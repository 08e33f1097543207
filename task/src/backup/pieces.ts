import { BlockRange, CopiedTable } from '../postgres/copy';

/** A table as the plan sees it: its size (heap and TOAST) and its heap's blocks. */
export interface TableFacts extends CopiedTable {
  readonly bytes: number;
  readonly blocks: number;
}

/**
 * One piece of a parallel backup, each its own object and its own stream:
 * - `schema`: pg_dump --section=pre-data --section=post-data (the schema, and materialized views'
 *   REFRESH: small, read whole by every restore);
 * - `rest`: pg_dump --data-only of everything no other piece holds (small tables, sequences'
 *   values, large objects);
 * - `table`: the rows of one large table, or of one block range of it, written by this CLI as an
 *   archive pg_restore reads (table-piece.ts).
 */
export type PiecePlan =
  | { readonly kind: 'schema'; readonly bytes: 0 }
  | { readonly kind: 'rest'; readonly excluded: readonly TableFacts[]; readonly bytes: number }
  | { readonly kind: 'table'; readonly table: TableFacts; readonly range?: BlockRange; readonly bytes: number };

export interface PlanOptions {
  /** Streams at once. */
  readonly jobs: number;
  /** Whether a table may be split into block ranges (a TID range scan: PostgreSQL 14+). */
  readonly splitTables: boolean;
  /** No piece is planned smaller than this, so that many small tables stay one pg_dump. @default 64 MiB */
  readonly minPieceBytes?: number;
}

/**
 * Plans a parallel backup's pieces so that `jobs` streams finish together: a piece size of about
 * a third of each stream's share (so the largest-first schedule can even out), at least
 * `minPieceBytes`. A table of at least half that size gets pieces of its own: block ranges of
 * about that size when it may be split (the last range open-ended), else one piece. Everything
 * else stays in the `rest` piece. Pieces come largest first, which is the order to start them in.
 * They are at most `maxPieces(jobs)` (contract/memory.ts), which the stack sizes memory for.
 */
export function planPieces(tables: readonly TableFacts[], options: PlanOptions): PiecePlan[] {
  const total = tables.reduce((sum, t) => sum + t.bytes, 0);
  const pieceBytes = Math.max(options.minPieceBytes ?? 64 * 1024 * 1024, Math.ceil(total / (options.jobs * 3)));
  const own = tables.filter((t) => t.bytes >= pieceBytes / 2 && t.columns.length > 0);
  const pieces: PiecePlan[] = own.flatMap((table): PiecePlan[] => {
    const count = options.splitTables && table.blocks > 1 ? Math.min(table.blocks, Math.max(1, Math.round(table.bytes / pieceBytes))) : 1;
    if (count === 1) return [{ kind: 'table' as const, table, bytes: table.bytes }];
    const step = Math.ceil(table.blocks / count);
    return Array.from({ length: count }, (_, i) => ({
      kind: 'table' as const,
      table,
      range: { from: i * step, to: i === count - 1 ? undefined : (i + 1) * step },
      bytes: Math.round(table.bytes / count),
    }));
  });
  const restBytes = total - own.reduce((sum, t) => sum + t.bytes, 0);
  return [
    { kind: 'schema', bytes: 0 },
    ...[...pieces, { kind: 'rest' as const, excluded: own, bytes: restBytes }].sort((a, b) => b.bytes - a.bytes),
  ];
}

/** How a piece is named in logs and the manifest. */
export function describePiece(piece: PiecePlan): string {
  if (piece.kind !== 'table') return piece.kind;
  const name = `${piece.table.schema}.${piece.table.name}`;
  if (!piece.range) return `table ${name}`;
  return `table ${name} blocks ${piece.range.from}-${piece.range.to === undefined ? 'end' : piece.range.to - 1}`;
}
