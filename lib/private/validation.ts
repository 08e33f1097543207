import { Token } from 'aws-cdk-lib';

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
    if (value !== undefined && !Token.isUnresolved(value) && (!Number.isInteger(value) || value < min || value > max))
      this.list.push(`${name} must be an integer ${min}-${max}${why}, got ${JSON.stringify(value)}.${fix ? ` ${fix}` : ''}`);
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
