import { S3Client } from '@aws-sdk/client-s3';
import { DumpProcess } from '../postgres/dump';
import { describeError, ExitCode, InterruptedError, TaskError } from '../errors';
import { DigestGate } from '../archive/digest';
import { Tier } from '../contract';
import { formatBytes, Logger } from '../log';
import { PartPlan } from '../storage/part-size';
import { storageError } from '../storage/s3';
import { CompletionHold, startStreamUpload, UploadOutcome } from '../storage/upload';
import { RequestWatch } from './plan';
import { BackupInput } from './types';

/** How long an interrupted run waits for in-flight parts and the abort call before it gives up. */
const ABORT_WAIT_MS = 20_000;

export interface StreamIntoS3Input {
  readonly input: BackupInput;
  /** What is streamed: pg_dump, or a piece that looks like it (stdout, done, kill). */
  readonly source: DumpProcess;
  readonly client: S3Client;
  readonly watch: RequestWatch;
  readonly key: string;
  readonly tier: Tier;
  readonly plan: PartPlan;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Holds the object's completion until every piece of a parallel backup has streamed: the stream then ends once the object is ready to complete. */
  readonly hold?: CompletionHold;
}

export interface Streamed {
  readonly bytes: number;
  readonly sha256: string;
  /** The object's completion: settled already, or (held) once the hold is released. */
  readonly completion: Promise<UploadOutcome>;
}

/**
 * Runs pg_dump into one S3 object. The first failure wins and is what is reported: pg_dump
 * failing, a request failing for good, or a signal. Any of them kills pg_dump and errors the
 * stream, so lib-storage aborts the multipart upload and no object appears at the key; a
 * failing abort call is logged but never replaces the cause.
 */
export async function streamIntoS3(s: StreamIntoS3Input): Promise<Streamed> {
  const { input, log } = s;
  const dump = s.source;
  const gate = new DigestGate(() => dump.done);
  const failures = new FirstFailure(dump, gate);
  const unwatch = watchFailures(s, dump, failures);
  let uploaded = 0;
  const progress = reportProgress(s, gate, () => uploaded);
  dump.stdout.pipe(gate);
  const { done } = startStreamUpload({
    client: s.client,
    bucket: input.storage.bucket,
    key: s.key,
    body: gate,
    partSizeBytes: s.plan.partSizeBytes,
    queueSize: s.plan.queueSize,
    checksum: input.storage.checksum,
    tier: s.tier,
    contentType: 'application/octet-stream',
    onProgress: (bytes) => (uploaded = bytes),
  });
  done.catch(() => undefined); // observed below, or by the caller once a hold is released
  // Held: the stream is done when its object waits at the hold (or fails on the way there).
  const ready = s.hold ? Promise.race([s.hold.ready(s.key).then(() => 'held' as const), done]) : done;
  try {
    const outcome = await Promise.race([ready, failures.deadline]);
    if (outcome === 'timeout') {
      log.warn(
        'backup.abort-timeout',
        `In-flight parts did not finish within ${ABORT_WAIT_MS / 1000} s; stopping without waiting. No object was created; the bucket's lifecycle rule removes orphaned parts.`,
      );
    }
    // The abort clock starts only after a failure was recorded, so a cause is set on a timeout.
    if (failures.cause || outcome === 'timeout')
      throw (
        failures.cause ?? new TaskError('The upload stopped without a recorded cause.', { exitCode: ExitCode.INTERNAL, stage: 'upload' })
      );
    return { bytes: gate.bytes, sha256: gate.sha256, completion: done };
  } catch (err) {
    const cause = failures.cause ?? storageError(err, 'upload', 'Uploading the dump', input.storage);
    dump.kill();
    await dump.done.catch(() => undefined);
    throw cause;
  } finally {
    clearInterval(progress);
    unwatch();
  }
}

/**
 * The first failure of a streaming backup, and what follows from it: pg_dump is killed and, while
 * its output still flows, the stream errors (so the upload aborts). An interruption starts a
 * clock: in-flight parts and the abort call get {@link ABORT_WAIT_MS}, then the run stops waiting.
 */
class FirstFailure {
  public cause: TaskError | undefined;
  /** pg_dump's output has ended cleanly: from here a signal no longer stops the upload. */
  public dumpComplete = false;
  public readonly deadline: Promise<'timeout'>;
  private startClock: () => void = () => undefined;

  constructor(
    private readonly dump: DumpProcess,
    private readonly gate: DigestGate,
  ) {
    this.deadline = new Promise<'timeout'>((resolve) => {
      this.startClock = () => setTimeout(() => resolve('timeout'), ABORT_WAIT_MS).unref();
    });
    gate.on('end', () => (this.dumpComplete = true));
  }

  public fail(cause: TaskError): void {
    this.cause ??= cause;
    if (cause instanceof InterruptedError) this.startClock();
    this.dump.kill();
    if (!this.dumpComplete) this.gate.destroy(this.cause);
  }
}

/** Routes every failure to `failures`: pg_dump's exit, its output, a request that failed for good, a signal. Returns the undo. */
function watchFailures(s: StreamIntoS3Input, dump: DumpProcess, failures: FirstFailure): () => void {
  const { log, signal } = s;
  dump.done.catch((err: TaskError) => failures.fail(err));
  dump.stdout.on('error', (err) =>
    failures.fail(
      new TaskError(`Reading pg_dump's output failed: ${describeError(err)}`, { exitCode: ExitCode.DATABASE, stage: 'dump', cause: err }),
    ),
  );
  s.watch.set((err, command) => {
    if (command === 'AbortMultipartUploadCommand') {
      log.warn(
        'backup.abort-failed',
        `Aborting the multipart upload failed (${describeError(err)}). No object was created at the key; the bucket's lifecycle rule removes the orphaned parts.`,
        { key: s.key },
      );
      return;
    }
    failures.fail(storageError(err, 'upload', `Uploading the dump (${command.replace(/Command$/, '')})`, s.input.storage));
  });
  const onSignal = () => {
    // A parallel backup's piece is held until every piece has streamed: stopped, it can only be abandoned.
    if (failures.dumpComplete && !s.hold) {
      log.warn('backup.signal', `Received ${String(signal.reason)} after pg_dump finished: completing the upload and manifest first.`);
      return;
    }
    failures.fail(new InterruptedError(String(signal.reason ?? 'a signal'), 'dump'));
  };
  signal.addEventListener('abort', onSignal, { once: true });
  return () => {
    signal.removeEventListener('abort', onSignal);
    s.watch.set(undefined);
  };
}

/** Logs how far the dump and the upload are, every progressSeconds. */
function reportProgress(s: StreamIntoS3Input, gate: DigestGate, uploaded: () => number): NodeJS.Timeout {
  const started = Date.now();
  const progress = setInterval(() => {
    const seconds = (Date.now() - started) / 1000;
    const rate = gate.bytes / 1024 / 1024 / Math.max(seconds, 0.001);
    s.log.info('backup.progress', `Dumped ${formatBytes(gate.bytes)} (${rate.toFixed(1)} MiB/s), stored ${formatBytes(uploaded())}`, {
      database: s.input.conn.database,
      key: s.key,
      bytes: gate.bytes,
      uploadedBytes: uploaded(),
      elapsedSeconds: Math.round(seconds),
      rateMiBps: Math.round(rate * 10) / 10,
    });
  }, s.input.progressSeconds * 1000);
  progress.unref();
  return progress;
}
