import { ChildProcess, spawn } from 'node:child_process';
import { describeExit, isFailedExit, spawnErrorMessage } from '../child';
import { DbConnection } from './connection';
import { ExitCode, InterruptedError, TaskError } from '../errors';
import { databaseConninfo, diesWithParent, PgTools } from './tools';

export interface PgRestoreOptions {
  readonly jobs: number;
  readonly clean: boolean;
  readonly noOwner: boolean;
  readonly noAcl: boolean;
  /** Only this section of the archive (a parallel backup's schema: pre-data, then post-data). */
  readonly section?: 'pre-data' | 'post-data';
  /** Only the data (a parallel backup's data pieces). */
  readonly dataOnly?: boolean;
  /** Only the entries this list file names (pg_restore -L: one `<dump ID>;` a line). */
  readonly useList?: string;
}

/**
 * pg_restore's arguments. One job restores in a single transaction, so a failure leaves
 * the target as it was; several jobs cannot (pg_restore forbids it), which is why the
 * caller allows them only into a database it created and drops on failure.
 */
export function pgRestoreArgs(file: string | undefined, o: PgRestoreOptions): string[] {
  return [
    '--no-password',
    '--exit-on-error',
    '--verbose',
    ...(o.jobs > 1 ? [`--jobs=${o.jobs}`] : ['--single-transaction']),
    ...(o.section ? [`--section=${o.section}`] : []),
    ...(o.dataOnly ? ['--data-only'] : []),
    ...(o.useList ? [`--use-list=${o.useList}`] : []),
    ...(o.clean ? ['--clean', '--if-exists'] : []),
    ...(o.noOwner ? ['--no-owner'] : []),
    ...(o.noAcl ? ['--no-acl'] : []),
    ...(file === undefined ? [] : [file]),
  ];
}

/**
 * Whether pg_restore must go through psql for this server: pg_restore 17 and later always
 * begin with `SET transaction_timeout = 0`, a setting servers before 17 do not have, so a
 * direct restore into them fails at its first statement (seen with pg_restore 18.6 into 15).
 */
export function needsPsqlPipe(pgRestoreVersionNum: number, serverVersionNum: number): boolean {
  return pgRestoreVersionNum >= 170000 && serverVersionNum < 170000;
}

/** The first version of pg_restore 17 that writes `\restrict` into its scripts and takes --restrict-key (CVE-2025-8714). */
export const RESTRICTING_PG_RESTORE = 170006;

/** Follows a running pg_restore: reports each table whose data it starts; rejects with its error lines (not its verbose chatter) when it fails. */
export function watchPgRestore(child: ChildProcess, signal: AbortSignal, onTable: (name: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
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
}

/**
 * Runs pg_restore from a local file straight into the target (the parallel restore, --jobs),
 * reporting each table whose data it starts.
 */
export function runPgRestore(
  tools: PgTools,
  target: DbConnection,
  file: string,
  options: PgRestoreOptions,
  signal: AbortSignal,
  onTable: (name: string) => void,
): Promise<void> {
  // From a file, pg_restore would go on restoring if this process were killed (SIGKILL, OOM):
  // it is started to receive SIGTERM when its parent dies.
  const [program, args] = diesWithParent(tools.pgRestore, ['--dbname', databaseConninfo(target.database), ...pgRestoreArgs(file, options)]);
  const child = spawn(program, args, { env: target.childEnv, stdio: ['ignore', 'ignore', 'pipe'], signal });
  return watchPgRestore(child, signal, onTable);
}

/**
 * Starts pg_restore reading an archive from its stdin into the target (a parallel backup's data
 * piece: sequential, so nothing of it goes to disk). It dies with this process.
 */
export function startPgRestoreFromStdin(
  tools: PgTools,
  target: DbConnection,
  options: PgRestoreOptions,
  signal: AbortSignal,
  onTable: (name: string) => void,
): { stdin: NodeJS.WritableStream & { destroy(): void }; done: Promise<void> } {
  const [program, args] = diesWithParent(tools.pgRestore, [
    '--dbname',
    databaseConninfo(target.database),
    ...pgRestoreArgs(undefined, options),
  ]);
  const child = spawn(program, args, { env: target.childEnv, stdio: ['pipe', 'ignore', 'pipe'], signal });
  child.stdin.on('error', () => undefined); // pg_restore gone: its exit says why
  const done = watchPgRestore(child, signal, onTable);
  done.catch(() => undefined);
  return { stdin: child.stdin, done };
}
