import { describeExit, isFailedExit, runCaptured, spawnErrorMessage } from '../child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { PgTools } from './tools';

export interface Globals {
  /** The SQL of pg_dumpall --globals-only: roles, memberships, tablespaces. */
  readonly sql: Buffer;
  /** True when role passwords were left out because the server does not let this user read them (e.g. RDS). */
  readonly noRolePasswords: boolean;
}

/** Globals are small; refuse to buffer anything unreasonable. */
const MAX_GLOBALS_BYTES = 64 * 1024 * 1024;

/**
 * Captures roles and tablespaces with `pg_dumpall --globals-only`. Where the user may not
 * read pg_authid (RDS, Aurora, most managed services), retries with --no-role-passwords and
 * says so in the result.
 */
export async function captureGlobals(tools: PgTools, conn: DbConnection): Promise<Globals> {
  const attempt = async (noRolePasswords: boolean) => {
    const args = ['--globals-only', '--no-password', `--database=${conn.database}`, ...(noRolePasswords ? ['--no-role-passwords'] : [])];
    return runCaptured(tools.pgDumpAll, args, { env: conn.childEnv, maxStdoutBytes: MAX_GLOBALS_BYTES }).catch(
      (err: NodeJS.ErrnoException) => {
        throw new TaskError(spawnErrorMessage('pg_dumpall', err), { exitCode: ExitCode.DATABASE, stage: 'globals', cause: err });
      },
    );
  };
  let run = await attempt(false);
  let noRolePasswords = false;
  if (isFailedExit(run) && /permission denied|pg_authid/i.test(run.stderr)) {
    noRolePasswords = true;
    run = await attempt(true);
  }
  if (isFailedExit(run)) {
    throw new TaskError(`pg_dumpall --globals-only ${describeExit(run)}: ${run.stderr}`, { exitCode: ExitCode.DATABASE, stage: 'globals' });
  }
  if (run.stdout.length >= MAX_GLOBALS_BYTES) {
    throw new TaskError(`pg_dumpall --globals-only printed more than ${MAX_GLOBALS_BYTES} bytes; that is not a globals dump.`, {
      exitCode: ExitCode.DATABASE,
      stage: 'globals',
    });
  }
  return { sql: run.stdout, noRolePasswords };
}
