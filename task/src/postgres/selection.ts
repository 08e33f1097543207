import { isFailedExit, runCaptured } from '../child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { connectionHint, PgTools } from './tools';
import { DumpSelection, SELECTION_FIELDS as FIELDS, SELECTION_ORDER as ORDER } from '../contract';

/** Patterns of a selection that match nothing in the database. */
export interface UnmatchedPatterns {
  /** Include patterns (`--schema`, `--table`): the backup must not run. */
  readonly include: readonly string[];
  /** Exclude patterns: worth a warning (a typo leaves the data in). */
  readonly exclude: readonly string[];
}

/**
 * Quotes a pattern as one argument of a psql meta-command: in single quotes nothing is
 * interpolated (no `:variables`, no backquoted shell commands), and psql hands the text to
 * the pattern matcher as is.
 */
export function psqlMetaArgument(pattern: string): string {
  return `'${pattern.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * Finds the patterns that match nothing, before the dump starts. psql's `\dn` and `\dt`
 * match patterns with the same client-library function as pg_dump's `-n` and `-t` (quoting,
 * case folding, wildcards, `schema.table`, the search path for unqualified names), so the
 * answer is pg_dump's. One psql run checks every pattern.
 */
export async function findUnmatchedPatterns(tools: PgTools, conn: DbConnection, selection: DumpSelection): Promise<UnmatchedPatterns> {
  const items = ORDER.flatMap((f) => (selection[f] ?? []).map((pattern) => ({ field: f, pattern })));
  if (items.length === 0) return { include: [], exclude: [] };
  const script = items
    .map((it, i) => `\\echo @@pattern ${i}\n${FIELDS[it.field].kind === 'schema' ? '\\dn' : '\\dtvmsE'} ${psqlMetaArgument(it.pattern)}\n`)
    .join('');
  const run = await runCaptured(tools.psql, ['-X', '-q', '-A', '-t', '--no-password', '-v', 'ON_ERROR_STOP=1'], {
    env: conn.childEnv,
    input: script + '\\echo @@end\n',
  });
  const stdout = run.stdout.toString('utf8');
  if (isFailedExit(run) || !stdout.includes('@@end')) {
    throw new TaskError(`Checking the dump selection's patterns with psql failed: ${run.stderr.trim()}${connectionHint(run.stderr)}`, {
      exitCode: ExitCode.DATABASE,
      stage: 'plan',
    });
  }
  const counts = new Array<number>(items.length).fill(0);
  let current = -1;
  for (const line of stdout.split('\n')) {
    const marker = /^@@pattern (\d+)$/.exec(line);
    if (marker) current = Number(marker[1]);
    else if (line === '@@end') current = -1;
    else if (line !== '' && current >= 0) counts[current]++;
  }
  const label = (it: (typeof items)[number]) => `${FIELDS[it.field].flag}=${it.pattern}`;
  return {
    include: items.filter((it, i) => FIELDS[it.field].include && counts[i] === 0).map(label),
    exclude: items.filter((it, i) => !FIELDS[it.field].include && counts[i] === 0).map(label),
  };
}
