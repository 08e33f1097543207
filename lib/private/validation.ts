import { Token } from 'aws-cdk-lib';

/**
 * The range check every validator shares: undefined when `value` is unset, a token, or an
 * integer from `min` to `max`; otherwise "<name> must be an integer <min>-<max><why>, got
 * <value>.<fix>".
 */
export function integerProblem(name: string, value: unknown, min: number, max: number, why = '', fix = ''): string | undefined {
  if (value === undefined || value === null || Token.isUnresolved(value)) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return undefined;
  const shown = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  return `${name} must be an integer ${min}-${max}${why}, got ${shown}.${fix ? ` ${fix}` : ''}`;
}

/**
 * The problems of one construct's props, collected so that every one is reported at once.
 * Token values (unknown until deploy) are never judged.
 */
export class Problems {
  private readonly list: string[] = [];

  /** Adds problems found elsewhere (e.g. by a shared check). */
  public add(...problems: string[]): this {
    this.list.push(...problems);
    return this;
  }

  /**
   * `value` must be an integer from `min` to `max` when set: "<name> must be an integer
   * <min>-<max><why>, got <value>.<fix>".
   */
  public integer(name: string, value: number | undefined, min: number, max: number, why = '', fix = ''): this {
    const problem = integerProblem(name, value, min, max, why, fix);
    if (problem) this.list.push(problem);
    return this;
  }

  public get all(): readonly string[] {
    return this.list;
  }

  /** Throws one error listing every problem, as "Invalid <what> configuration (N problems): …". */
  public throwIfAny(what: string): void {
    const n = this.list.length;
    if (n > 0) throw new Error(`Invalid ${what} configuration (${n} problem${n > 1 ? 's' : ''}):\n- ${this.list.join('\n- ')}`);
  }
}
