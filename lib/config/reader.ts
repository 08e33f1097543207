import { integerProblems } from '../private/validation';
import { closestKey } from './suggest';

/** Reading CDK context values: each reader appends a problem naming the key, the value and the fix. */
export type Raw = Record<string, unknown>;

export const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));
export const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Typed readers over one list of problems. A value that is absent reads as `undefined`, so
 * that the construct it is passed to applies its own default; `default` in an option is only
 * what the message tells the user.
 */
export class ContextReader {
  constructor(public readonly problems: string[]) {}

  public str(key: string, v: unknown, opts: { required?: boolean; pattern?: RegExp; hint?: string } = {}): string | undefined {
    if (v === undefined || v === null || v === '') {
      if (opts.required) this.problems.push(`${key} is required${opts.hint ? `: ${opts.hint}` : '.'}`);
      return undefined;
    }
    if (typeof v !== 'string') {
      this.problems.push(`${key} must be a string, got ${show(v)}.${opts.hint ? ` ${opts.hint}` : ''}`);
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.problems.push(`${key} ${show(v)} is not valid${opts.hint ? `: ${opts.hint}` : '.'}`);
      return undefined;
    }
    return v;
  }

  public int(key: string, v: unknown, min: number, max: number, opts: { default: number; hint?: string }): number | undefined {
    const problems = integerProblems(
      key,
      v,
      min,
      max,
      '',
      `${opts.hint ? `${opts.hint} ` : ''}Leave it out for the default (${opts.default}).`,
    );
    this.problems.push(...problems);
    return problems.length > 0 || v === undefined || v === null ? undefined : (v as number);
  }

  public bool(key: string, v: unknown): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.problems.push(`${key} must be true or false, got ${show(v)}.`);
      return undefined;
    }
    return v;
  }

  /**
   * An object setting whose keys are `known`: any other key is a problem (see `unknownKeys`),
   * and only the known ones can be read from the result.
   */
  public obj<K extends string>(key: string, v: unknown, known: readonly K[]): { readonly [P in K]?: unknown } | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) {
      this.problems.push(`${key} must be an object, got ${show(v)}.`);
      return undefined;
    }
    this.unknownKeys(key, v, known);
    return v as { readonly [P in K]?: unknown };
  }

  /**
   * The one check for keys nobody reads: a misspelt key would otherwise be read as "not set"
   * and its setting silently dropped. Each key of `v` (the object at path `at`, '' for the top
   * level) that is not `known` and not `ownedElsewhere` is a problem naming its dotted path and
   * the known key it most likely meant, or, when none is close, the known keys.
   */
  public unknownKeys(
    at: string,
    v: Raw,
    known: readonly string[],
    ownedElsewhere?: { test: (key: string) => boolean; note: string },
  ): void {
    const path = (key: string) => (at === '' ? key : `${at}.${key}`);
    for (const key of Object.keys(v)) {
      if (known.includes(key) || ownedElsewhere?.test(key)) continue;
      const meant = closestKey(key, known);
      this.problems.push(
        meant !== undefined
          ? `${path(key)} is not a known key: did you mean '${path(meant)}'?`
          : `${path(key)} is not a known key. Known keys${at === '' ? '' : ` of ${at}`}: ${known.join(', ')}.${ownedElsewhere ? ` ${ownedElsewhere.note}` : ''}`,
      );
    }
  }

  /** A non-empty list of IDs matching `pattern`. */
  public ids(key: string, v: unknown, pattern: RegExp, example: string): string[] {
    if (!Array.isArray(v) || v.length === 0) {
      this.problems.push(`${key} must be a non-empty list, got ${show(v)}. Example: ${example}.`);
      return [];
    }
    const bad = v.filter((x) => typeof x !== 'string' || !pattern.test(x));
    if (bad.length > 0) this.problems.push(`${key} has invalid entries ${bad.map(show).join(', ')}. Example: ${example}.`);
    return v.filter((x): x is string => typeof x === 'string' && pattern.test(x));
  }
}
