import { Token } from 'aws-cdk-lib';

/**
 * The one way problems are collected in lib/: each check is a function that returns the
 * problems it found as a `string[]` (empty when none), and the caller gathers them into one
 * `problems: string[]` and throws once. Token values (unknown until deploy) are never judged.
 */

/**
 * The range check every validator shares: no problem when `value` is unset, a token, or an
 * integer from `min` to `max`; otherwise "<name> must be an integer <min>-<max><why>, got
 * <value>.<fix>".
 */
export function integerProblems(name: string, value: unknown, min: number, max: number, why = '', fix = ''): string[] {
  if (value === undefined || value === null || Token.isUnresolved(value)) return [];
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return [];
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return [`${name} must be an integer ${min}-${max}${why}, got ${shown}.${fix ? ` ${fix}` : ''}`];
}

/** Throws one error listing every problem, as "Invalid <what> configuration (N problems): …"; nothing when there is none. */
export function throwIfProblems(what: string, problems: readonly string[]): void {
  const n = problems.length;
  if (n > 0) throw new Error(`Invalid ${what} configuration (${n} problem${n > 1 ? 's' : ''}):\n- ${problems.join('\n- ')}`);
}
