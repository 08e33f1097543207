import { ChildProcess, spawn } from 'node:child_process';
import { Transform, TransformCallback, Writable } from 'node:stream';
import { describeExit, ExitStatus, isFailedExit, OutputTail, spawnErrorMessage } from '../child';
import { DbConnection, toolEnvironment } from './connection';
import { ExitCode, InterruptedError, TaskError } from '../errors';
import { databaseConninfo, diesWithParent, PgTools } from './tools';
import { keepReadingSink } from '../storage/archive';

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
export function pgRestoreArgs(file: string | undefined, o: PgRestoreOptions): string[] {
  return [
    '--no-password',
    '--exit-on-error',
    '--verbose',
    ...(o.jobs > 1 ? [`--jobs=${o.jobs}`] : ['--single-transaction']),
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

const TRANSACTION_TIMEOUT = 'SET transaction_timeout = 0;\n';

/**
 * Checks and trims the head of pg_restore's script before psql sees any of it:
 * - its first backslash command must be `\restrict <restrictKey>`, the key this run gave
 *   pg_restore (--restrict-key), with only comments and blank lines before it. From there on psql
 *   refuses every backslash command, so none that the archive's text might carry can run;
 * - pg_restore 17+'s `SET transaction_timeout = 0;`, a setting servers before 17 lack, is left out.
 * A script that does not begin so is an error, and none of it is passed on.
 */
export function scriptPreamble(restrictKey: string): Transform {
  let head = '';
  let passing = false;
  const restrictLine = `\\restrict ${restrictKey}\n`;
  const release = (stream: Transform): Error | undefined => {
    const meta = head.search(/^\\/m);
    if (meta < 0 || !head.startsWith(restrictLine, meta) || !/^(?:(?:--[^\n]*)?\n)*$/.test(head.slice(0, meta)))
      return new Error("pg_restore's script did not begin with the \\restrict line this run asked for");
    const at = head.indexOf(`\n${TRANSACTION_TIMEOUT}`, meta);
    const out = at < 0 ? head : head.slice(0, at + 1) + head.slice(at + 1 + TRANSACTION_TIMEOUT.length);
    passing = true;
    head = '';
    stream.push(Buffer.from(out, 'latin1'));
    return undefined;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, cb) {
      if (passing) return cb(null, chunk);
      head += chunk.toString('latin1');
      if (!head.includes(`\n${TRANSACTION_TIMEOUT}`) && head.length < 64 * 1024) return cb();
      cb(release(this));
    },
    flush(cb) {
      cb(passing ? undefined : release(this));
    },
  });
}

/** Follows a running pg_restore: reports each table whose data it starts; rejects with its error lines (not its verbose chatter) when it fails. */
function watchPgRestore(child: ChildProcess, signal: AbortSignal, onTable: (name: string) => void): Promise<void> {
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

/** pg_restore --single-transaction's last statement, and what may follow it: comments, blank lines, psql's \unrestrict. */
const FINAL_COMMIT = /(?:^|\n)COMMIT;\n((?:[ \t]*\n|--[^\n]*\n|\\unrestrict [A-Za-z0-9]+\n)*)$/;

/**
 * Passes pg_restore's --single-transaction script through without its final COMMIT, so that
 * the transaction stays open for the caller to commit. The end of the script is held back
 * until it has ended; a script that does not end with pg_restore's COMMIT (pg_restore died, or
 * wrote something this does not know) errors instead, and its end is never passed on.
 */
export class WithoutFinalCommit extends Transform {
  /** At least this much of the end is held back: more than the COMMIT and its epilogue. */
  private static readonly HOLD = 16 * 1024;
  private readonly held: Buffer[] = [];
  private heldBytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // Whole chunks are passed on once enough follows them: no copies, whatever the chunk sizes.
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    while (this.heldBytes - this.held[0].length >= WithoutFinalCommit.HOLD) {
      const out = this.held.shift()!;
      this.heldBytes -= out.length;
      this.push(out);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const tail = Buffer.concat(this.held).toString('latin1');
    const end = FINAL_COMMIT.exec(tail);
    if (!end) return callback(new Error("pg_restore's script did not end with its COMMIT"));
    callback(null, Buffer.from(tail.slice(0, end.index) + (end[0].startsWith('\n') ? '\n' : '') + end[1], 'latin1'));
  }
}

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
  const psql = spawn(tools.psql, ['-X', '--no-password', '-q', '-v', 'ON_ERROR_STOP=1'], {
    env: target.childEnv,
    stdio: ['pipe', 'ignore', 'pipe'],
    signal,
  });
  // Writing SQL for psql, pg_restore connects to nothing: psql alone gets the connection.
  const pgRestore = spawn(
    tools.pgRestore,
    ['--file', '-', `--restrict-key=${options.restrictKey}`, ...pgRestoreArgs(undefined, { ...options, jobs: 1 })],
    {
      env: toolEnvironment(process.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      signal,
    },
  );
  const psqlErrors = new OutputTail(8192);
  psql.stderr.on('data', (c: Buffer) => psqlErrors.push(c));
  psql.stdin.on('error', () => undefined); // psql that stopped at an error closes its stdin: its exit says why
  let inputEnded = false;
  let psqlStatus: ExitStatus | undefined;
  let spawnError: NodeJS.ErrnoException | undefined;
  psql.on('error', (err: NodeJS.ErrnoException) => (spawnError = err));
  const script = new WithoutFinalCommit();
  const psqlExit = new Promise<ExitStatus>((resolve) =>
    psql.on('close', (code, signalName) => {
      psqlStatus = { code, signal: signalName };
      if (!inputEnded) {
        // psql gone before its input ended has failed (a statement, the connection): stop pg_restore,
        // let its script run out into nothing, and the download drains (keepReadingSink).
        script.unpipe(psql.stdin);
        script.resume();
        pgRestore.kill('SIGTERM');
      }
      resolve(psqlStatus);
    }),
  );
  const psqlFailure = (status: ExitStatus): TaskError => {
    if (signal.aborted) return new InterruptedError(String(signal.reason), 'restore');
    if (spawnError)
      return new TaskError(spawnErrorMessage('psql', spawnError), { exitCode: ExitCode.DATABASE, stage: 'restore', cause: spawnError });
    const lines = psqlErrors
      .text(40)
      .split('\n')
      .filter((l) => /ERROR|FATAL|DETAIL|HINT/.test(l));
    return new TaskError(
      `psql applying pg_restore's script ${describeExit(status)}${inputEnded ? '' : ' before the end of the script'}: ${lines.slice(-6).join('\n') || '(no error text)'}`,
      { exitCode: ExitCode.DATABASE, stage: 'restore' },
    );
  };

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
    if (psqlStatus) throw psqlFailure(psqlStatus);
    if (r.status === 'rejected') throw r.reason;
    if (h.status === 'rejected')
      throw new TaskError(`${(h.reason as Error).message}: not applying it.`, { exitCode: ExitCode.DATABASE, stage: 'restore' });
  })();
  applied.catch(() => undefined);
  const endInput = (text: string) => {
    inputEnded = true;
    script.unpipe(psql.stdin);
    psql.stdin.end(text);
  };
  return {
    archive: keepReadingSink(pgRestore.stdin),
    applied,
    async commit() {
      endInput('COMMIT;\n');
      const status = await psqlExit;
      if (isFailedExit(status) || signal.aborted) throw psqlFailure(status);
    },
    async abandon() {
      if (!inputEnded) endInput('');
      pgRestore.kill('SIGTERM');
      await psqlExit;
    },
  };
}

/**
 * Passes an archive on to pg_restore, all but its last `hold` bytes (of the `expectedBytes` the
 * manifest promises); bytes beyond `expectedBytes` are never passed on. pg_restore cannot finish,
 * and so cannot commit, without the end of its archive: the last data block ends with a length
 * of zero, the archive's last bytes, which pg_restore reads before anything after the data (and
 * before its COMMIT). `release()` passes the held end on and ends pg_restore's input, once the
 * caller has checked every byte; until then pg_restore waits inside its open transaction.
 */
export class HeldTail extends Writable {
  private passed = 0;
  private readonly held: Buffer[] = [];

  constructor(
    private readonly inner: Writable,
    private readonly expectedBytes: number,
    private readonly hold = 4096,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const limit = Math.max(0, this.expectedBytes - this.hold);
    const forward = Math.max(0, Math.min(chunk.length, limit - this.passed));
    const keep = Math.max(0, Math.min(chunk.length - forward, this.expectedBytes - this.passed - forward));
    if (keep > 0) this.held.push(chunk.subarray(forward, forward + keep));
    // Everything past what the manifest promises is dropped here (and counted by the digest before).
    const write = forward > 0 ? chunk.subarray(0, forward) : undefined;
    this.passed += forward + keep;
    if (!write) return callback();
    this.inner.write(write, (err) => callback(err ?? null));
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback(); // pg_restore's input stays open: only release() ends it
  }

  /** Passes the held end on and ends pg_restore's input. */
  public release(): void {
    this.inner.end(Buffer.concat(this.held));
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
