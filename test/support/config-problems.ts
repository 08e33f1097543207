import { ConfigError } from '../../task/src/errors';

/** The problems a CLI configuration reader refused `fn`'s input with (all of them, as one ConfigError lists them). */
export function cliProblemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}
