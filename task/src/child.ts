import { ChildProcess, spawn } from 'node:child_process';
import { ExitCode, Stage, TaskError } from './errors';
import { Readable } from 'node:stream';

/** Keeps the last `limit` bytes a child wrote to stderr, for error messages. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 4096) {}

  public push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  /** The last lines, trimmed, at most `maxLines`. */
  public text(maxLines = 10): string {
    const all = Buffer.concat(this.chunks).toString('utf8');
    const tail = all.length > this.limit ? all.slice(all.length - this.limit) : all;
    return tail.trim().split('\n').slice(-maxLines).join('\n');
  }
}

export interface ExitStatus {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A child has failed when it did not exit with 0 on its own (execa's `isFailedExit`). */
export function isFailedExit(status: ExitStatus): boolean {
  return status.code !== 0 || status.signal !== null;
}

/** `exited with code 1` / `was killed by SIGKILL`. */
export function describeExit(status: ExitStatus): string {
  return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
}

/** The message for a program that could not be started at all. */
export function spawnErrorMessage(program: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') {
    return `${program} was not found (${err.path ?? program}). Install the PostgreSQL client (Debian: apt-get install postgresql-client), or point --pg-bin-dir / PG_BIN_DIR at the directory holding it.`;
  }
  return `${program} could not be started: ${err.message}`;
}

export interface CapturedRun extends ExitStatus {
  readonly stdout: Buffer;
  readonly stderr: string;
}

/**
 * Runs a program to completion and captures its output. Rejects only when it cannot be
 * started (the error event that comes before `spawn`, e.g. ENOENT); a non-zero exit is
 * returned for the caller to judge. Arguments never carry secrets: pass them in `env`.
 * A stream `input` is piped to stdin and destroyed when the program exits: a reader that
 * stops early (pg_restore after an archive's table of contents) ends the transfer.
 */
export function runCaptured(
  program: string,
  args: readonly string[],
  options: { env: Readonly<Record<string, string>>; input?: string | Buffer | Readable; maxStdoutBytes?: number; signal?: AbortSignal },
): Promise<CapturedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
    const out: Buffer[] = [];
    let outSize = 0;
    const err = new OutputTail(16384);
    child.stdout.on('data', (c: Buffer) => {
      outSize += c.length;
      if (options.maxStdoutBytes === undefined || outSize <= options.maxStdoutBytes) out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const input = options.input;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (input instanceof Readable) input.destroy();
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err.text(40) });
    });
    child.stdin.on('error', () => undefined); // a child that exits early closes its stdin: not our failure
    if (input instanceof Readable) {
      input.on('error', () => child.stdin.destroy()); // a failed transfer is an early end of input: the child's exit says what it saw
      input.pipe(child.stdin);
    } else child.stdin.end(input ?? '');
  });
}

/**
 * Settles when `child` has exited: resolves on exit code 0 without a signal; rejects with a
 * {@link TaskError} naming `program`, how it exited and the tail of its stderr (`hint` adds advice
 * read from that text), or that it could not be started at all. Never unobserved: callers may
 * attach later.
 */
export function exitOf(
  child: ChildProcess,
  program: string,
  stderr: OutputTail,
  stage: Stage,
  hint: (stderrText: string) => string = () => '',
): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => (spawnError = err));
    child.on('close', (code, signal) => {
      if (spawnError)
        return reject(new TaskError(spawnErrorMessage(program, spawnError), { exitCode: ExitCode.DATABASE, stage, cause: spawnError }));
      const status: ExitStatus = { code, signal };
      if (!isFailedExit(status)) return resolve();
      const tail = stderr.text(8);
      reject(
        new TaskError(`${program} ${describeExit(status)}${tail ? `: ${tail}` : ''}${hint(tail)}`, { exitCode: ExitCode.DATABASE, stage }),
      );
    });
  });
  done.catch(() => undefined);
  return done;
}

/**
 * Stops a child whose output is abandoned: SIGTERM while it runs, and its stdout closed, so that
 * its exit ('close', what {@link exitOf} waits for) comes even when it had finished with bytes
 * left in the pipe that a stopped reader never takes.
 */
export function abandonChild(child: ChildProcess & { readonly stdout: Readable }): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  child.stdout.destroy();
}
