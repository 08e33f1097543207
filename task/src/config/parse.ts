import { parseArgs } from 'node:util';
import { ConfigError } from '../errors';
import { LogFormat } from '../log';
import { CommandName, SETTINGS, SettingName, SettingSpec, SettingValues } from './settings';

/** The parsed settings, typed from the table (see {@link SettingValues}). */
export type RawSettings = SettingValues;

export interface ParsedInput {
  readonly command: CommandName;
  readonly values: RawSettings;
  /** Which settings came from a flag (for messages that name the right source). */
  readonly sources: { [K in SettingName]?: string };
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off', ''];

/** How a setting is named in messages: `--flag` / `ENV`. */
export function settingLabel(spec: SettingSpec): string {
  return spec.env ? `--${spec.flag} / ${spec.env}` : `--${spec.flag}`;
}

/**
 * Parses the command line and the environment for `command` into typed values. Collects
 * every problem (unknown flags, settings the command does not take, a single-valued flag
 * given more than once, wrong types, values out of range) into `problems`, so that the
 * command's own validation can add to them and throw one {@link ConfigError} listing
 * everything (see {@link throwIfProblems}).
 * Connects to nothing.
 */
export function parseInput(command: CommandName, argv: readonly string[], env: NodeJS.ProcessEnv, problems: string[]): ParsedInput {
  const entries = Object.entries(SETTINGS) as [SettingName, SettingSpec][];
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [, spec] of entries)
    options[spec.flag] = { type: spec.type === 'boolean' ? 'boolean' : 'string', ...(spec.type === 'list' ? { multiple: true } : {}) };

  const parsed = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  // parseArgs keeps the last of a repeated flag: count them, so that `--dbname a --dbname b` is refused, not misread.
  const given = new Map<string, number>();
  for (const t of parsed.tokens) if (t.kind === 'option') given.set(t.name, (given.get(t.name) ?? 0) + 1);
  for (const p of parsed.positionals) problems.push(`Unexpected argument '${p}'. Run 'pg-s3-backup ${command} --help' for the options.`);
  const known = new Set(entries.map(([, s]) => s.flag));
  for (const flag of Object.keys(parsed.values)) {
    if (!known.has(flag)) problems.push(`Unknown option '--${flag}'. Run 'pg-s3-backup ${command} --help' for the options.`);
  }

  const values: Record<string, unknown> = {};
  const sources: ParsedInput['sources'] = {};
  for (const [name, spec] of entries) {
    const fromFlag = parsed.values[spec.flag];
    const fromEnv = spec.env ? env[spec.env] : undefined;
    // The table's default, unless the flag or the variable gives a valid value (below).
    if (spec.default !== undefined) values[name] = spec.default;
    if (fromFlag === undefined && (fromEnv === undefined || fromEnv === '')) continue;
    const source = fromFlag !== undefined ? `--${spec.flag}` : spec.env!;
    if (!spec.commands.includes(command)) {
      // The environment is shared by all commands (ECS sets it once): only flags are strict. A
      // flag that another setting of this command reads (backup's and restore's --jobs) is that one's.
      const ours = entries.some(([, other]) => other.flag === spec.flag && other.commands.includes(command));
      if (fromFlag !== undefined && !ours) problems.push(`'--${spec.flag}' does not apply to '${command}'. Remove it.`);
      continue;
    }
    const times = given.get(spec.flag) ?? 0;
    // The last value is still checked below, so that the rest of the validation does not add
    // a misleading "missing" problem; the run stops on this problem anyway.
    if (spec.type !== 'list' && times > 1) problems.push(`--${spec.flag} is given ${times} times, but it takes one value. Give it once.`);
    const raw = fromFlag !== undefined ? fromFlag : fromEnv!;
    const value = coerce(spec, raw, source, problems);
    if (value !== undefined) {
      values[name] = value;
      sources[name] = source;
    }
  }
  return { command, values: values as SettingValues, sources };
}

/**
 * Throws one {@link ConfigError} with every problem collected, if there are any, to be
 * reported in `logFormat` (the configuration's own, so that `--log-format` holds for it too).
 */
export function throwIfProblems(problems: readonly string[], logFormat?: LogFormat): void {
  if (problems.length > 0) throw new ConfigError(problems, logFormat);
}

function coerce(
  spec: SettingSpec,
  raw: string | boolean | (string | boolean)[],
  source: string,
  problems: string[],
): string | number | boolean | readonly string[] | undefined {
  if (spec.type === 'list') return listOf(spec, raw, source, problems);
  if (Array.isArray(raw)) raw = raw[raw.length - 1];
  if (spec.type === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    const v = raw.trim().toLowerCase();
    if (TRUE.includes(v)) return true;
    if (FALSE.includes(v)) return false;
    problems.push(`${source} must be true or false, got '${raw}'.`);
    return undefined;
  }
  if (typeof raw === 'boolean') {
    problems.push(`--${spec.flag} needs a value, e.g. --${spec.flag}=<value>.`);
    return undefined;
  }
  if (spec.type === 'integer') {
    const n = Number(raw.trim());
    const inRange = Number.isInteger(n) && (spec.min === undefined || n >= spec.min) && (spec.max === undefined || n <= spec.max);
    if (!/^\d+$/.test(raw.trim()) || !inRange) {
      const range = spec.max === undefined ? `${spec.min ?? 0} or more` : `from ${spec.min ?? 0} to ${spec.max}`;
      problems.push(`${source} must be a whole number ${range}, got '${raw}'.`);
      return undefined;
    }
    return n;
  }
  if (spec.type === 'enum' && !spec.values!.includes(raw)) {
    problems.push(`${source} must be one of ${spec.values!.join(', ')}; got '${raw}'.`);
    return undefined;
  }
  return raw;
}

/**
 * A `list` setting: each flag is one item (so an item may hold a comma), the variable a
 * comma-separated list (or one separated by whitespace: URLs may hold commas). Items are trimmed; an empty item, or one with control characters,
 * is a problem (pg_dump would reject or misread it).
 */
function listOf(
  spec: SettingSpec,
  raw: string | boolean | (string | boolean)[],
  source: string,
  problems: string[],
): readonly string[] | undefined {
  const fromEnv = typeof raw === 'string' && source === spec.env;
  const items = Array.isArray(raw)
    ? raw
    : fromEnv && spec.separator === 'whitespace'
      ? raw.split(/\s+/).filter((item) => item !== '')
      : fromEnv
        ? raw.split(',')
        : [raw];
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string') {
      problems.push(`--${spec.flag} needs a value, e.g. --${spec.flag}=<${spec.secret ? 'url' : 'pattern'}>.`);
      continue;
    }
    const value = item.trim();
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
    if (value === '' || /[\u0000-\u001f\u007f]/.test(value)) {
      // A secret's value is never shown, not even in part.
      problems.push(`${source} has an empty item or one with control characters${spec.secret ? '' : `: ${JSON.stringify(item)}`}.`);
      continue;
    }
    out.push(value);
  }
  return out.length > 0 ? out : undefined;
}

/** Reads an integer from the machine's cgroup (v2 or v1) memory limit, in MiB; undefined when unlimited. */
export function cgroupMemoryLimitMib(read: (path: string) => string | undefined): number | undefined {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    const text = read(path)?.trim();
    if (!text || text === 'max') continue;
    const bytes = Number(text);
    // cgroup v1 reports "unlimited" as a huge number close to 2^63.
    if (Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 60) return Math.floor(bytes / 1024 / 1024);
  }
  return undefined;
}
