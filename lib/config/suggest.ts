/**
 * "Did you mean …?" for a key nobody reads: the known key it most likely stands for.
 */

/**
 * The number of edits (insert, delete or replace one character, or swap two neighbours) that
 * turn `a` into `b`: the optimal string alignment distance. A swap counts once, as a person
 * typing `alarmEmial` makes one mistake, not two.
 */
export function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j], before[j - 2] + 1);
    }
    [before, previous] = [previous, row];
  }
  return previous[b.length];
}

/** Edits that still read as a typo of a key this long: 1 up to 7 characters, 2 up to 11, then 3. */
const typosIn = (length: number) => Math.min(3, Math.max(1, Math.floor(length / 4)));

/**
 * The key of `known` that `key` most likely meant, ignoring case: the one fewest edits away,
 * within what still reads as a typo of it; failing that, one that `key` shortens or extends by
 * whole characters (`memory` for `memoryMiB`, at least 4 characters in common). Undefined when
 * none is close; ties go to the first in `known`.
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    const edits = editDistance(k, c);
    const extends_ = Math.min(k.length, c.length) >= 4 && (c.startsWith(k) || k.startsWith(c));
    // A prefix match ranks after every typo match (at most 3 edits).
    const score = edits <= typosIn(c.length) ? edits : extends_ ? 4 : Infinity;
    if (score < bestScore) [best, bestScore] = [candidate, score];
  }
  return best;
}
