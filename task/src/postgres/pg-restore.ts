import { spawn } from 'node:child_process';
import { Transform } from 'node:stream';
import { describeExit, isFailedExit, runCaptured, spawnErrorMessage } from '../child';
import { DbConnection, toolEnvironment } from './connection';
import { ExitCode, InterruptedError, TaskError } from '../errors';
import { PgTools } from './tools';

export interface PgRestoreOptions {
  readonly jobs: number;
  readonly clean: boolean;
  readonly noOwner: boolean;
  readonly noAcl: boolean;
}

/**
 * pg_restore's arguments. One job restores in a single transaction, so a failure leaves
 * the target as it was; several jobs cannot (pg_restore forbids it), which is why the
 * caller allows them only into a database it created and drops on failure.
 */
export function pgRestoreArgs(file: string, o: PgRestoreOptions): string[] {
  return [
    '--no-password',
    '--exit-on-error',
    '--verbose',
    ...(o.jobs > 1 ? [`--jobs=${o.jobs}`] : ['--single-transaction']),
    ...(o.clean ? ['--clean', '--if-exists'] : []),
    ...(o.noOwner ? ['--no-owner'] : []),
    ...(o.noAcl ? ['--no-acl'] : []),
    file,
  ];
}

/** Number of TABLE DATA entries in the archive's table of contents (for progress). */
export async function countTableData(tools: PgTools, file: string, env: Readonly<Record<string, string>>): Promise<number> {
  const run = await runCaptured(tools.pgRestore, ['--list', file], { env, maxStdoutBytes: 256 * 1024 * 1024 }).catch(() => undefined);
  if (!run || isFailedExit(run)) return 0;
  return run.stdout
    .toString('utf8')
    .split('\n')
    .filter((l) => / TABLE DATA /.test(l)).length;
}

/**
 * Whether pg_restore must go through psql for this server: pg_restore 17 and later always
 * begin with `SET transaction_timeout = 0`, a setting servers before 17 do not have, so a
 * direct restore into them fails at its first statement (seen with pg_restore 18.6 into 15).
 */
export function needsPsqlPipe(pgRestoreVersionNum: number, serverVersionNum: number): boolean {
  return pgRestoreVersionNum >= 170000 && serverVersionNum < 170000;
}

/** Drops the first `SET transaction_timeout = 0;` line of pg_restore's script preamble, then passes everything through. */
function withoutTransactionTimeout(): Transform {
  let head = '';
  let passing = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, cb) {
      if (passing) return cb(null, chunk);
      head += chunk.toString('latin1');
      const at = head.search(/^SET transaction_timeout = 0;\n/m);
      if (at < 0 && head.length < 64 * 1024) return cb();
      passing = true;
      const out = at < 0 ? head : head.slice(0, at) + head.slice(at + 'SET transaction_timeout = 0;\n'.length);
      head = '';
      cb(null, Buffer.from(out, 'latin1'));
    },
    flush(cb) {
      cb(null, head ? Buffer.from(head, 'latin1') : undefined);
    },
  });
}

/**
 * Runs pg_restore into the target, reporting each table whose data it starts. Rejects with
 * pg_restore's error lines (not its verbose chatter) when it fails. With `viaPsql`
 * ({@link needsPsqlPipe}), pg_restore writes its script (still one transaction) and psql
 * applies it with ON_ERROR_STOP, without the one setting the older server lacks.
 */
export async function runPgRestore(
  tools: PgTools,
  target: DbConnection,
  file: string,
  options: PgRestoreOptions,
  signal: AbortSignal,
  onTable: (name: string) => void,
  viaPsql = false,
): Promise<void> {
  const psql = viaPsql ? startPsqlScript(tools, target, signal) : undefined;
  const restoring = new Promise<void>((resolve, reject) => {
    const child = spawn(tools.pgRestore, [...(psql ? ['--file', '-'] : ['--dbname', target.database]), ...pgRestoreArgs(file, options)], {
      // Writing SQL for psql, pg_restore connects to nothing: psql alone gets the connection.
      env: psql ? toolEnvironment(process.env) : target.childEnv,
      stdio: ['ignore', psql ? 'pipe' : 'ignore', 'pipe'],
      signal,
    });
    if (psql) child.stdout!.pipe(withoutTransactionTimeout()).pipe(psql.stdin);
    const errors: string[] = [];
    let partial = '';
    child.stderr!.on('data', (c: Buffer) => {
      const lines = (partial + c.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const table = /processing data for table "(.*)"/.exec(line);
        if (table) onTable(table[1]);
        else if (/error|ERROR|DETAIL|HINT|FATAL/.test(line)) errors.push(line.trim());
      }
    });
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => (spawnError = err));
    child.on('close', (code, signalName) => {
      if (signal.aborted) return reject(new InterruptedError(String(signal.reason), 'restore'));
      if (spawnError)
        return reject(
          new TaskError(spawnErrorMessage('pg_restore', spawnError), { exitCode: ExitCode.DATABASE, stage: 'restore', cause: spawnError }),
        );
      if (!isFailedExit({ code, signal: signalName })) return resolve();
      if (partial && /error|ERROR/.test(partial)) errors.push(partial.trim());
      reject(
        new TaskError(`pg_restore ${describeExit({ code, signal: signalName })}: ${errors.slice(-6).join('\n') || '(no error text)'}`, {
          exitCode: ExitCode.DATABASE,
          stage: 'restore',
        }),
      );
    });
  });
  if (!psql) return restoring;
  // Both must succeed; psql's error (the statement that failed) says more than pg_restore's broken pipe.
  const [restored, applied] = await Promise.allSettled([restoring, psql.done]);
  if (signal.aborted) throw new InterruptedError(String(signal.reason), 'restore');
  if (applied.status === 'rejected') throw applied.reason;
  if (restored.status === 'rejected') throw restored.reason;
}

/** psql applying a script from stdin to the target, in the script's own transaction, stopping at the first error. */
function startPsqlScript(tools: PgTools, target: DbConnection, signal: AbortSignal) {
  const child = spawn(tools.psql, ['-X', '--no-password', '-q', '-v', 'ON_ERROR_STOP=1'], {
    env: target.childEnv,
    stdio: ['pipe', 'ignore', 'pipe'],
    signal,
  });
  const errors: string[] = [];
  child.stderr.on('data', (c: Buffer) =>
    errors.push(
      ...c
        .toString('utf8')
        .split('\n')
        .filter((l) => /ERROR|FATAL|DETAIL|HINT/.test(l)),
    ),
  );
  child.stdin.on('error', () => undefined); // psql that stopped at an error closes its stdin: its exit says why
  const done = new Promise<void>((resolve, reject) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => (spawnError = err));
    child.on('close', (code, signalName) => {
      if (spawnError && !signal.aborted)
        return reject(
          new TaskError(spawnErrorMessage('psql', spawnError), { exitCode: ExitCode.DATABASE, stage: 'restore', cause: spawnError }),
        );
      if (!isFailedExit({ code, signal: signalName })) return resolve();
      reject(
        new TaskError(
          `psql applying pg_restore's script ${describeExit({ code, signal: signalName })}: ${errors.slice(-6).join('\n') || '(no error text)'}`,
          {
            exitCode: ExitCode.DATABASE,
            stage: 'restore',
          },
        ),
      );
    });
  });
  done.catch(() => undefined);
  return { stdin: child.stdin, done };
}
