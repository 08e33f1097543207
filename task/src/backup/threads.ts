import { Worker } from 'node:worker_threads';
import { BackupKeys, Tier } from '../contract';
import { describeError, ExitCode, ExitCodeValue, Stage, TaskError } from '../errors';
import { Level, LogFields, Logger } from '../log';
import { PartPlan } from '../storage/part-size';
import { UploadEvent, UploadLedger, UploadOutcome } from '../storage/upload';
import { PiecePlan } from './pieces';
import { PieceSources } from './sources';
import { Streamed } from './stream';

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
 * One stream of a parallel backup, on a worker thread of its own: the thread starts each piece
 * it is given, and runs it through the same pipeline as a single backup (its child's output, the
 * digest gate, lib-storage, its own S3 client), so that hashing, copying and sending each byte
 * never queues behind another stream on one thread. The thread holds each piece's completion
 * until {@link release} (or fails it on {@link cancel}) and reports every multipart upload it
 * opens to `ledger`; the main thread keeps the decisions: which piece runs next, when to stop,
 * and the abort sweep.
 *
 * The thread runs this very script (the bundled CLI, whose entry point sees PIECE_THREAD).
 */
export class PieceThread {
  private readonly worker: Worker;
  private readonly streams = new Map<string, Pending<Streamed>>();
  private readonly completions = new Map<string, Pending<UploadOutcome>>();
  private closing = false;

  constructor(
    data: PieceThreadData,
    private readonly log: Logger,
    private readonly ledger: UploadLedger,
    script: string = __filename,
  ) {
    this.worker = new Worker(script, { workerData: data });
    this.worker.on('message', (m: FromThread) => this.receive(m));
    this.worker.on('error', (err) => this.lost(`failed: ${describeError(err)}`));
    this.worker.on('exit', (code) => this.lost(`stopped (exit code ${code})`));
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
    await this.worker.terminate();
  }

  private send(message: ToThread): void {
    if (!this.closing) this.worker.postMessage(message);
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
