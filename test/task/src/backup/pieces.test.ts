import { planPieces, TableFacts } from '../../../../task/src/backup/pieces';
import { maxPieces } from '../../../../task/src/contract';

const MIB = 1024 * 1024;

/** A table of `bytes` with 8 KiB blocks. */
const table = (name: string, bytes: number): TableFacts => ({
  oid: 0,
  schema: 'public',
  name,
  owner: 'app',
  columns: ['id'],
  bytes,
  blocks: Math.max(1, Math.ceil(bytes / 8192)),
});

/** A deterministic pseudo-random sequence (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('how many pieces a parallel backup has (each may hold a part buffer: the stack sizes memory for maxPieces)', () => {
  test.each([2, 3, 4, 8, 16])('jobs %i: never more than maxPieces(jobs), even with every table at half a piece', (jobs) => {
    // GIVEN the tables that give the most pieces: each just at half the piece size, so each gets a piece of its own
    const pieceBytes = 64 * MIB;
    const worst = Array.from({ length: jobs * 6 }, (_, i) => table(`t${i}`, pieceBytes / 2));
    // WHEN it is planned THEN every table has its own piece, and the count stays within the bound
    const pieces = planPieces(worst, { jobs, splitTables: true });
    expect(pieces.filter((p) => p.kind === 'table')).toHaveLength(jobs * 6);
    expect(pieces.length).toBeLessThanOrEqual(maxPieces(jobs));
  });

  test('random databases (a dominant table, many comparable ones, many small ones, piece size set or not) stay within the bound', () => {
    const next = random(20);
    for (let round = 0; round < 2000; round++) {
      const jobs = 2 + Math.floor(next() * 15);
      const count = 1 + Math.floor(next() * 60);
      const scale = [1, 64, 4096, 1024 * 1024][Math.floor(next() * 4)] * MIB;
      const tables = Array.from({ length: count }, (_, i) => table(`t${i}`, Math.floor(next() ** 3 * scale)));
      const minPieceBytes = next() < 0.5 ? undefined : (1 + Math.floor(next() * 256)) * MIB;
      const pieces = planPieces(tables, { jobs, splitTables: next() < 0.8, minPieceBytes });
      if (pieces.length > maxPieces(jobs)) throw new Error(`round ${round}: ${pieces.length} pieces for jobs ${jobs}`);
    }
  });

  test('one stream is one object: nothing is held', () => {
    expect(maxPieces(1)).toBe(0);
  });
});
