import { availableParallelism } from 'node:os';
import { MessageChannel, MessagePort, Worker } from 'node:worker_threads';
import { BackupKeys, StreamThreads, Tier } from '../contract';
import { describeError, ExitCode, ExitCodeValue, Stage, TaskError } from '../errors';
import { Level, LogFields, Logger } from '../log';
import { PartPlan } from '../storage/part-size';
import { UploadEvent, UploadLedger, UploadOutcome } from '../storage/upload';
import { PiecePlan } from './pieces';
import { PieceSources } from './sources';
import { Streamed } from './stream';

/**
 * Whether a parallel backup of `jobs` streams runs them on worker threads. `auto` does when
 * there are at least 1.5 cores per stream: a core for each stream's child (pg_dump, or psql and
 * zstd) and half a core for its Node side (hashing, copying into parts, sending: about 5 s of CPU
 * per GB of archive). With fewer, the children keep every core busy, and the bench measured the
 * threads costing more CPU than they free (docs/performance.md, "Streams on worker threads").
 */
export function chooseStreamThreads(setting: StreamThreads | undefined, jobs: number, cores: number = availableParallelism()): boolean {
  if (setting === 'on') return true;
  if (setting === 'off') return false;
  return cores * 2 >= jobs * 3;
}

/** How many streams a parallel backup runs, and on how many worker threads (0: all on the main thread). */
export interface StreamLayout {
  readonly jobs: number;
  readonly threads: number;
}

/**
 * The streams of a backup asked for `jobs` with `pieces` pieces (never more streams than
 * pieces, never fewer than 2), and whether they get threads: decided once, before the memory
 * check, which counts the threads.
 */
export function streamLayout(
  jobs: number | undefined,
  pieces: number,
  setting: StreamThreads | undefined,
  cores: number = availableParallelism(),
): StreamLayout {
  const streams = Math.max(2, Math.min(jobs ?? 2, pieces));
  return { jobs: streams, threads: chooseStreamThreads(setting, streams, cores) ? streams : 0 };
}

/** Where a {@link PieceThread} runs: a worker thread running `script`, or this thread (`run`, the thread's side, over a message channel). */
export type ThreadHost =
  | { readonly kind: 'worker'; readonly script?: string }
  | { readonly kind: 'inline'; readonly run: (data: PieceThreadData, port: MessagePort) => void };

/** Marks the workerData of a piece thread, so that the CLI's entry point knows to run one. */
export const PIECE_THREAD = 'pg-s3-backup piece thread';

/** What a piece thread starts with (its workerData): plain data, cloned into the thread. */
export interface PieceThreadData {
  readonly kind: typeof PIECE_THREAD;
  readonly sources: PieceSources;
  /** Every piece of the backup; the main thread names which to stream by index. */
  readonly pieces: readonly PiecePlan[];
  /** The backup's keys: the thread holds the writes that would make them visible. */
  readonly keys: BackupKeys;
  readonly tier: Tier;
  readonly parts: PartPlan;
}

/** A {@link TaskError} as it crosses between threads (a structured clone keeps no class). */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly exitCode: ExitCodeValue;
  readonly stage: Stage;
}

/** From the main thread to a piece thread. */
export type ToThread =
  | { readonly type: 'stream'; readonly index: number; readonly key: string }
  | { readonly type: 'stop'; readonly reason: string }
  | { readonly type: 'release' }
  | { readonly type: 'cancel'; readonly error: WireError };

/** From a piece thread to the main thread. */
export type FromThread =
  | { readonly type: 'log'; readonly level: Level; readonly event: string; readonly msg: string; readonly fields: LogFields }
  | { readonly type: 'upload'; readonly event: UploadEvent }
  | { readonly type: 'streamed'; readonly key: string; readonly bytes: number; readonly sha256: string }
  | { readonly type: 'failed'; readonly key: string; readonly error: WireError }
  | { readonly type: 'completed'; readonly key: string; readonly outcome: UploadOutcome }
  | { readonly type: 'completion-failed'; readonly key: string; readonly error: WireError };

export function toWire(err: unknown, stage: Stage): WireError {
  if (err instanceof TaskError) return { name: err.name, message: err.message, exitCode: err.exitCode, stage: err.stage };
  return { name: 'TaskError', message: `A piece thread failed: ${describeError(err)}`, exitCode: ExitCode.INTERNAL, stage };
}

export function fromWire(w: WireError): TaskError {
  const err = new TaskError(w.message, { exitCode: w.exitCode, stage: w.stage });
  err.name = w.name;
  return err;
}

interface Pending<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
}

function pending<T>(): Pending<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // observed by whoever awaits it; a failure alone is not unhandled
  return { promise, resolve, reject };
}

/**
 * One stream of a parallel backup: its side (thread-entry.ts) starts each piece it is given, and
 * runs it through the same pipeline as a single backup (its child's output, the digest gate,
 * lib-storage, its own S3 client). On a worker thread of its own, hashing, copying and sending
 * each byte never queue behind another stream; inline, the same side runs on this thread behind
 * a message channel, so both ways speak the same messages. The stream's side holds each piece's
 * completion until {@link release} (or fails it on {@link cancel}) and reports every multipart
 * upload it opens to `ledger`; the main thread keeps the decisions: which piece runs next, when
 * to stop, and the abort sweep.
 *
 * A worker thread runs this very script (the bundled CLI, whose entry point sees PIECE_THREAD).
 */
export class PieceThread {
  private readonly port: Worker | MessagePort;
  private readonly streams = new Map<string, Pending<Streamed>>();
  private readonly completions = new Map<string, Pending<UploadOutcome>>();
  private closing = false;

  constructor(
    data: PieceThreadData,
    private readonly log: Logger,
    private readonly ledger: UploadLedger,
    host: ThreadHost,
  ) {
    if (host.kind === 'worker') {
      const worker = new Worker(host.script ?? __filename, { workerData: data });
      worker.on('error', (err) => this.lost(`failed: ${describeError(err)}`));
      worker.on('exit', (code) => this.lost(`stopped (exit code ${code})`));
      this.port = worker;
    } else {
      const { port1, port2 } = new MessageChannel();
      host.run(data, port2);
      this.port = port1;
    }
    this.port.on('message', (m: FromThread) => this.receive(m));
  }

  /** Streams piece `index` of the plan to `key`: settles when its stream has ended and its completion waits to be released. */
  public stream(index: number, key: string): Promise<Streamed> {
    const streamed = pending<Streamed>();
    this.streams.set(key, streamed);
    this.completions.set(key, pending<UploadOutcome>());
    this.send({ type: 'stream', index, key });
    return streamed.promise;
  }

  /** Stops the thread's stream: its child is killed and its upload aborted. */
  public stop(reason: string): void {
    this.send({ type: 'stop', reason });
  }

  /** Lets the held completions through. */
  public release(): void {
    this.send({ type: 'release' });
  }

  /** Fails the held completions (and any later one) with `err`: lib-storage aborts those uploads. */
  public cancel(err: TaskError): void {
    this.send({ type: 'cancel', error: toWire(err, err.stage) });
  }

  /** Ends the thread; call once every stream and completion has settled. */
  public async close(): Promise<void> {
    this.closing = true;
    if (this.port instanceof Worker) await this.port.terminate();
    else this.port.close(); // closes the stream's end too
  }

  private send(message: ToThread): void {
    if (!this.closing) this.port.postMessage(message);
  }

  private receive(m: FromThread): void {
    switch (m.type) {
      case 'log':
        this.log.log(m.level, m.event, m.msg, m.fields);
        return;
      case 'upload':
        this.ledger.record(m.event);
        return;
      case 'streamed':
        this.streams.get(m.key)?.resolve({ bytes: m.bytes, sha256: m.sha256, completion: this.completions.get(m.key)!.promise });
        this.streams.delete(m.key);
        return;
      case 'failed':
        this.streams.get(m.key)?.reject(fromWire(m.error));
        this.streams.delete(m.key);
        this.completions.delete(m.key);
        return;
      case 'completed':
        this.completions.get(m.key)?.resolve(m.outcome);
        this.completions.delete(m.key);
        return;
      case 'completion-failed':
        this.completions.get(m.key)?.reject(fromWire(m.error));
        this.completions.delete(m.key);
        return;
    }
  }

  /** The thread ended on its own: whatever it still owed fails (its open uploads are in the ledger). */
  private lost(what: string): void {
    if (this.closing) return;
    this.closing = true;
    const err = new TaskError(`A piece thread ${what}.`, { exitCode: ExitCode.INTERNAL, stage: 'dump' });
    for (const p of [...this.streams.values(), ...this.completions.values()]) p.reject(err);
    this.streams.clear();
    this.completions.clear();
  }
}
