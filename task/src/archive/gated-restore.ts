import { ChildProcessByStdio, spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { describeExit, ExitStatus, isFailedExit, OutputTail, spawnErrorMessage } from '../child';
import { DbConnection, toolEnvironment } from '../postgres/connection';
import { ExitCode, InterruptedError, TaskError } from '../errors';
import { databaseConninfo, PgTools } from '../postgres/tools';
import { pgRestoreArgs, PgRestoreOptions, watchPgRestore } from '../postgres/pg-restore';
import { HeldTail, keepReadingSink, scriptPreamble, WithoutFinalCommit } from './gates';

/**
 * A single-job restore in flight, from the archive's bytes to an open transaction in the target
 * that commits only when the caller, having checked those bytes, says so.
 */
export interface GatedRestore {
  /** Where the archive goes (pg_restore's stdin; it goes on accepting bytes if pg_restore stops reading). */
  readonly archive: Writable;
  /**
   * Settles once the archive has been fed (all of it that is passed on before the commit), with
   * the transaction still open; rejects with the first failure seen by then (a damaged block,
   * a failed statement: psql's says more than the broken pipe pg_restore then sees).
   */
  readonly applied: Promise<void>;
  /** Lets the transaction commit and waits for it; rejects when it did not. */
  commit(): Promise<void>;
  /** Stops the restore without a commit and waits for it to end: the server rolls the transaction back. */
  abandon(): Promise<void>;
}

/**
 * Starts a restore that commits only when the caller says so. pg_restore reads the archive from
 * stdin and writes its --single-transaction script; psql applies it to the target with
 * ON_ERROR_STOP, without the script's final COMMIT ({@link WithoutFinalCommit}). The caller
 * feeds the archive, checks what it fed (size and SHA-256 against the manifest), and only then
 * calls `commit()`; anything else (`abandon()`, a failure, a signal, a crash of this process)
 * ends the session without COMMIT, and the target is as it was. For a server older than
 * pg_restore 17 knows ({@link needsPsqlPipe}): the one setting it lacks is left out of the script.
 */
export function startScriptRestore(
  tools: PgTools,
  target: DbConnection,
  options: PgRestoreOptions & { readonly restrictKey: string },
  signal: AbortSignal,
  onTable: (name: string) => void,
): GatedRestore {
  // Writing SQL for psql, pg_restore connects to nothing: psql alone gets the connection.
  const pgRestore = spawn(
    tools.pgRestore,
    ['--file', '-', `--restrict-key=${options.restrictKey}`, ...pgRestoreArgs(undefined, { ...options, jobs: 1 })],
    { env: toolEnvironment(process.env), stdio: ['pipe', 'pipe', 'pipe'], signal },
  );
  const script = new WithoutFinalCommit();
  const psql = new PsqlApplier(tools, target, signal, () => {
    // psql gone before its input ended has failed (a statement, the connection): stop pg_restore,
    // let its script run out into nothing, and the download drains (keepReadingSink).
    script.unpipe(psql.stdin);
    script.resume();
    pgRestore.kill('SIGTERM');
  });
  const handedOver = new Promise<void>((resolve, reject) => {
    script.on('end', resolve);
    script.on('error', reject);
  });
  const preamble = scriptPreamble(options.restrictKey);
  preamble.on('error', (err) => script.destroy(err));
  pgRestore.stdout.pipe(preamble).pipe(script);
  script.pipe(psql.stdin, { end: false });
  pgRestore.stdin.on('error', () => undefined); // pg_restore stopped reading: keepReadingSink drains the rest, its exit says why
  const restored = watchPgRestore(pgRestore, signal, onTable);

  const applied = (async () => {
    const [r, h] = await Promise.allSettled([restored, handedOver]);
    if (psql.status) throw psql.failure(psql.status);
    if (r.status === 'rejected') throw r.reason;
    if (h.status === 'rejected')
      throw new TaskError(`${(h.reason as Error).message}: not applying it.`, { exitCode: ExitCode.DATABASE, stage: 'restore' });
  })();
  applied.catch(() => undefined);
  const endInput = (text: string) => {
    script.unpipe(psql.stdin);
    psql.endInput(text);
  };
  return {
    archive: keepReadingSink(pgRestore.stdin),
    applied,
    async commit() {
      endInput('COMMIT;\n');
      const status = await psql.exit;
      if (isFailedExit(status) || signal.aborted) throw psql.failure(status);
    },
    async abandon() {
      if (!psql.inputEnded) endInput('');
      pgRestore.kill('SIGTERM');
      await psql.exit;
    },
  };
}

/** psql applying a script from its stdin to the target with ON_ERROR_STOP: its exit, and why it failed. */
class PsqlApplier {
  public readonly exit: Promise<ExitStatus>;
  public status: ExitStatus | undefined;
  public inputEnded = false;
  private readonly child: ChildProcessByStdio<Writable, null, Readable>;
  private readonly errors = new OutputTail(8192);
  private spawnError: NodeJS.ErrnoException | undefined;

  /** `onEarlyExit` runs when psql ends before its input did (it stopped at an error). */
  constructor(
    tools: PgTools,
    target: DbConnection,
    private readonly signal: AbortSignal,
    onEarlyExit: () => void,
  ) {
    this.child = spawn(tools.psql, ['-X', '--no-password', '-q', '-v', 'ON_ERROR_STOP=1'], {
      env: target.childEnv,
      stdio: ['pipe', 'ignore', 'pipe'],
      signal,
    });
    this.child.stderr.on('data', (c: Buffer) => this.errors.push(c));
    this.child.stdin.on('error', () => undefined); // psql that stopped at an error closes its stdin: its exit says why
    this.child.on('error', (err: NodeJS.ErrnoException) => (this.spawnError = err));
    this.exit = new Promise<ExitStatus>((resolve) =>
      this.child.on('close', (code, signalName) => {
        this.status = { code, signal: signalName };
        if (!this.inputEnded) onEarlyExit();
        resolve(this.status);
      }),
    );
  }

  public get stdin(): Writable {
    return this.child.stdin;
  }

  /** Ends psql's input with `text` (COMMIT, or nothing: psql then ends without committing). */
  public endInput(text: string): void {
    this.inputEnded = true;
    this.child.stdin.end(text);
  }

  /** Why psql failed with `status`: the interruption, a program that could not start, or its error lines. */
  public failure(status: ExitStatus): TaskError {
    if (this.signal.aborted) return new InterruptedError(String(this.signal.reason), 'restore');
    if (this.spawnError)
      return new TaskError(spawnErrorMessage('psql', this.spawnError), {
        exitCode: ExitCode.DATABASE,
        stage: 'restore',
        cause: this.spawnError,
      });
    const lines = this.errors
      .text(40)
      .split('\n')
      .filter((l) => /ERROR|FATAL|DETAIL|HINT/.test(l));
    return new TaskError(
      `psql applying pg_restore's script ${describeExit(status)}${this.inputEnded ? '' : ' before the end of the script'}: ${lines.slice(-6).join('\n') || '(no error text)'}`,
      { exitCode: ExitCode.DATABASE, stage: 'restore' },
    );
  }
}

/**
 * Starts a single-job restore straight into the target that commits only when the caller says
 * so: `pg_restore --single-transaction --dbname` reads the archive from stdin, all of it but the
 * end ({@link HeldTail}). The caller feeds the archive, checks what it fed (size and SHA-256
 * against the manifest), and only then calls `commit()`, which passes the end on: pg_restore
 * finishes and commits. `abandon()`, a failure, a signal or a crash of this process stops
 * pg_restore before it can, and the server rolls the transaction back.
 */
export function startDirectRestore(
  tools: PgTools,
  target: DbConnection,
  options: PgRestoreOptions,
  expectedBytes: number,
  signal: AbortSignal,
  onTable: (name: string) => void,
): GatedRestore {
  const child = spawn(
    tools.pgRestore,
    ['--dbname', databaseConninfo(target.database), ...pgRestoreArgs(undefined, { ...options, jobs: 1 })],
    {
      env: target.childEnv,
      stdio: ['pipe', 'ignore', 'pipe'],
      signal,
    },
  );
  child.stdin.on('error', () => undefined); // pg_restore stopped reading: keepReadingSink drains the rest, its exit says why
  let released = false;
  let exited = false;
  const restored = watchPgRestore(child, signal, onTable).finally(() => (exited = true));
  restored.catch(() => undefined);
  const tail = new HeldTail(keepReadingSink(child.stdin), expectedBytes);
  const fedAll = new Promise<void>((resolve, reject) => {
    tail.on('finish', resolve);
    tail.on('error', reject);
  });
  const applied = (async () => {
    await fedAll;
    // pg_restore gone before the end was released has failed (a damaged block, an SQL error).
    if (exited) await restored;
  })();
  applied.catch(() => undefined);
  return {
    archive: tail,
    applied,
    async commit() {
      if (exited)
        return restored.then(() => {
          throw new TaskError('pg_restore finished before the end of the archive was released: its result cannot be trusted.', {
            exitCode: ExitCode.INTERNAL,
            stage: 'restore',
          });
        });
      released = true;
      tail.release();
      await restored;
    },
    async abandon() {
      if (!released && !exited) child.kill('SIGTERM');
      await restored.catch(() => undefined);
    },
  };
}
