import { CapturedRun, describeExit, isFailedExit, runCaptured, spawnErrorMessage } from '../child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { databaseConninfo, PgTools } from './tools';
import { lexSql, splitStatements, Statement, utf8Of } from './sql-lexer';
import { describeRefusal, StatementMismatch } from './sql-statements';
import { restrictUnsupported, runRestrictedScript } from './psql-script';

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
    const args = [
      '--globals-only',
      '--no-password',
      `--database=${databaseConninfo(conn.database)}`,
      ...(noRolePasswords ? ['--no-role-passwords'] : []),
    ];
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

/**
 * What a stored globals file may hold: the statements pg_dumpall --globals-only writes (roles,
 * their settings, memberships and comments, tablespaces, parameter privileges), and the session
 * settings at its top. A statement of any other kind (COPY … TO PROGRAM, DO, CREATE FUNCTION…)
 * is not a globals dump's, whoever wrote it.
 */
const GLOBALS_STATEMENTS: ReadonlyArray<readonly string[]> = [
  ['create', 'role'],
  ['alter', 'role'],
  ['comment', 'on', 'role'],
  ['security', 'label'],
  ['grant'],
  ['revoke'],
  ['create', 'tablespace'],
  ['alter', 'tablespace'],
  ['comment', 'on', 'tablespace'],
];
/** The session settings pg_dumpall writes at the top of the file. */
const GLOBALS_SETTINGS = new Set(['default_transaction_read_only', 'client_encoding', 'standard_conforming_strings']);
/** pg_dumpall's own `\restrict <key>` first line and `\unrestrict <key>` last line (15.14, 16.10, 17.6, 18 and later). */
const RESTRICT_LINE = /^\\(un)?restrict ([A-Za-z0-9]+)$/;

/**
 * Checks a stored globals file before anything of it is applied, and returns its statements,
 * each exactly as written (a binary string, one character per byte, each ending in `;`). Lexed
 * as psql reads a script: a backslash command anywhere but pg_dumpall's own `\restrict` and
 * `\unrestrict` pair, a psql variable, or a statement that is not of a globals dump's kinds is
 * refused with exit 5, naming it.
 */
export function checkGlobals(sql: Buffer, key: string): string[] {
  const text = sql.toString('latin1');
  const refuse = (why: string) =>
    new TaskError(`${key} is not a globals dump this CLI applies: ${why}. Nothing of it was applied.`, {
      exitCode: ExitCode.INTEGRITY,
      stage: 'verify',
    });
  let statements: Statement[];
  try {
    statements = splitStatements(text, lexSql(text, { standardConformingStrings: true, psql: true }));
  } catch (err) {
    throw refuse(describeRefusal(err));
  }
  const metas = statements.filter((s) => s.tokens[0].kind === 'meta');
  const restrict = metas.map((m) => RESTRICT_LINE.exec(m.text));
  const pairOk =
    metas.length === 0 ||
    (metas.length === 2 &&
      statements[0] === metas[0] &&
      statements.at(-1) === metas[1] &&
      restrict[0]?.[1] === undefined &&
      restrict[1]?.[1] === 'un' &&
      restrict[0]?.[2] === restrict[1]?.[2]);
  if (!pairOk)
    throw refuse(`it holds the psql command ${JSON.stringify(utf8Of((metas.find((_, i) => !restrict[i]) ?? metas[0]).text.slice(0, 60)))}`);
  const sqlStatements = statements.filter((s) => s.tokens[0].kind !== 'meta');
  for (const s of sqlStatements) {
    const words = s.tokens.slice(0, 3).map((t) => (t.kind === 'word' ? t.value : ''));
    const known = GLOBALS_STATEMENTS.some((kind) => kind.every((w, i) => words[i] === w));
    const setting = words[0] === 'set' && GLOBALS_SETTINGS.has(words[1]);
    if (!known && !setting)
      throw refuse(
        `a statement of a kind pg_dumpall --globals-only does not write (${describeRefusal(new StatementMismatch('unexpected statement'), s)})`,
      );
  }
  return sqlStatements.map((s) => `${s.text};`);
}

/** Applies checked globals statements to the server of `conn` (from `database`), under psql's `\restrict`; a role that exists fails its CREATE ROLE and psql goes on. */
export async function applyGlobals(
  tools: PgTools,
  conn: DbConnection,
  statements: readonly string[],
  database: string,
): Promise<CapturedRun> {
  const run = await runRestrictedScript(tools, conn, statements.join('\n') + '\n', { onErrorStop: false, database });
  const old = restrictUnsupported(run.stderr, 'roles');
  if (old) throw new TaskError(old, { exitCode: ExitCode.DATABASE, stage: 'restore' });
  return run;
}
