import { randomInt } from 'node:crypto';
import { CapturedRun, runCaptured, spawnErrorMessage } from '../child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { PgTools } from './tools';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A fresh key for psql's `\restrict` (CVE-2025-8714's fix, psql 13.22, 14.19, 15.14, 16.10,
 * 17.6 and 18): after `\restrict <key>`, psql refuses every backslash command but
 * `\unrestrict <key>`. The key is random for each run, so text from the bucket cannot hold it.
 */
export function newRestrictKey(): string {
  let key = '';
  for (let i = 0; i < 48; i++) key += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return key;
}

/** What psql says when it does not know `\restrict` (a release from before August 2025). */
const NO_RESTRICT = /invalid command \\restrict/;

/** The message for a psql too old to restrict itself, or undefined. */
export function restrictUnsupported(stderr: string, what: string): string | undefined {
  if (!NO_RESTRICT.test(stderr)) return undefined;
  return `This psql does not know \\restrict, so it cannot be trusted with ${what} read from the bucket (CVE-2025-8714): install a current minor release of the PostgreSQL client (13.22, 14.19, 15.14, 16.10, 17.6, 18 or later), or point --pg-bin-dir / PG_BIN_DIR at one.`;
}

/**
 * Runs SQL through psql with backslash commands refused from its first line: the script is
 * `\restrict <fresh key>` followed by `sql` (a "binary string", one character per byte), and
 * nothing in it can lift the restriction. `onErrorStop` stops at the first failing statement.
 * Connects with `conn` (its database from PGDATABASE: a name, never a connection string).
 */
export async function runRestrictedScript(
  tools: PgTools,
  conn: DbConnection,
  sql: string,
  options: { onErrorStop: boolean; database?: string },
): Promise<CapturedRun> {
  const env = options.database ? { ...conn.childEnv, PGDATABASE: options.database } : conn.childEnv;
  const script = Buffer.from(`\\restrict ${newRestrictKey()}\n${sql}`, 'latin1');
  return runCaptured(tools.psql, ['-X', '--no-password', '-q', '-v', `ON_ERROR_STOP=${options.onErrorStop ? 1 : 0}`], {
    env,
    input: script,
  }).catch((err: NodeJS.ErrnoException) => {
    throw new TaskError(spawnErrorMessage('psql', err), { exitCode: ExitCode.DATABASE, stage: 'restore', cause: err });
  });
}
