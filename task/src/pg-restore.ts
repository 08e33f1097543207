import { spawn } from 'node:child_process';
import { describeExit, isFailedExit, runCaptured, spawnErrorMessage } from './child';
import { DbConnection } from './connection';
import { ExitCode, InterruptedError, TaskError } from './errors';
import { PgTools } from './postgres';

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
 * Runs pg_restore into the target, reporting each table whose data it starts. Rejects with
 * pg_restore's error lines (not its verbose chatter) when it fails.
 */
export function runPgRestore(
  tools: PgTools,
  target: DbConnection,
  file: string,
  options: PgRestoreOptions,
  signal: AbortSignal,
  onTable: (name: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tools.pgRestore, ['--dbname', target.database, ...pgRestoreArgs(file, options)], {
      env: target.childEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
      signal,
    });
    const errors: string[] = [];
    let partial = '';
    child.stderr.on('data', (c: Buffer) => {
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
