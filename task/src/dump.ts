import { ChildProcessByStdio, spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { describeExit, ExitStatus, isFailedExit, OutputTail, spawnErrorMessage } from './child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from './errors';
import { PgTools } from './postgres';

export interface DumpOptions {
  /** pg_dump's -Z value (gzip level or method[:level]); pg_dump's default when undefined. */
  readonly compress?: string;
}

/** A running `pg_dump -Fc`. */
export interface DumpProcess {
  /** The archive bytes. Ends when pg_dump exits, successfully or not: judge by `done`. */
  readonly stdout: Readable;
  /**
   * Settles when pg_dump has exited: resolves only on exit code 0 without a signal; rejects
   * with a {@link TaskError} naming the exit and the tail of pg_dump's stderr otherwise.
   */
  readonly done: Promise<void>;
  /** What pg_dump printed on stderr (warnings on success, the cause on failure). */
  readonly stderr: OutputTail;
  /** Stops pg_dump (SIGTERM); safe to call at any time. */
  kill(): void;
}

/** The arguments for pg_dump: custom format, never prompt; the connection comes from the environment. */
export function dumpArgs(options: DumpOptions): string[] {
  return ['--format=custom', '--no-password', ...(options.compress !== undefined ? [`--compress=${options.compress}`] : [])];
}

/** Starts pg_dump for the connection's database. The password reaches it only through its environment. */
export function startDump(tools: PgTools, conn: DbConnection, options: DumpOptions): DumpProcess {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(tools.pgDump, dumpArgs(options), {
    env: conn.childEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  const stderr = new OutputTail(8192);
  child.stderr.on('data', (c: Buffer) => stderr.push(c));

  const done = new Promise<void>((resolve, reject) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
    });
    child.on('close', (code, signal) => {
      if (spawnError) {
        reject(new TaskError(spawnErrorMessage('pg_dump', spawnError), { exitCode: ExitCode.DATABASE, stage: 'dump', cause: spawnError }));
        return;
      }
      const status: ExitStatus = { code, signal };
      if (!isFailedExit(status)) {
        resolve();
        return;
      }
      const tail = stderr.text(8);
      reject(new TaskError(`pg_dump ${describeExit(status)}${tail ? `: ${tail}` : ''}`, { exitCode: ExitCode.DATABASE, stage: 'dump' }));
    });
  });
  // Callers may attach later; an unobserved early failure must not crash the process.
  done.catch(() => undefined);

  return {
    stdout: child.stdout,
    done,
    stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
