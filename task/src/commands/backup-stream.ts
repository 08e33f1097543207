import { S3Client } from '@aws-sdk/client-s3';
import { BackupConfig } from '../config/backup';
import { startDump } from '../postgres/dump';
import { describeError, ExitCode, InterruptedError, TaskError } from '../errors';
import { DigestGate } from '../archive/digest';
import { Tier } from '../contract';
import { formatBytes, Logger } from '../log';
import { PartPlan } from '../storage/part-size';
import { storageError } from '../storage/s3';
import { startStreamUpload, UploadOutcome } from '../storage/upload';

/** How long an interrupted run waits for in-flight parts and the abort call before it gives up. */
const ABORT_WAIT_MS = 20_000;

export interface StreamIntoS3Input {
  readonly config: BackupConfig;
  readonly client: S3Client;
  readonly key: string;
  readonly tier: Tier;
  readonly plan: PartPlan;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Receives each S3 request's final error while the upload runs. */
  readonly setWatcher: (watch: ((err: unknown, command: string) => void) | undefined) => void;
}

export interface Streamed {
  readonly bytes: number;
  readonly sha256: string;
  readonly outcome: UploadOutcome;
}

/**
 * Runs pg_dump into one S3 object. The first failure wins and is what is reported: pg_dump
 * failing, a request failing for good, or a signal. Any of them kills pg_dump and errors the
 * stream, so lib-storage aborts the multipart upload and no object appears at the key; a
 * failing abort call is logged but never replaces the cause.
 */
export async function streamIntoS3(input: StreamIntoS3Input): Promise<Streamed> {
  const { config, log, signal } = input;
  const dump = startDump(config.tools, config.conn, { compress: config.compress, selection: config.selection });
  const gate = new DigestGate(() => dump.done);
  let first: TaskError | undefined;
  let dumpComplete = false;
  let uploaded = 0;

  // An interrupted run waits a bounded time for in-flight parts and the abort call.
  let startAbortClock: () => void = () => undefined;
  const abortDeadline = new Promise<'timeout'>((resolve) => {
    startAbortClock = () => setTimeout(() => resolve('timeout'), ABORT_WAIT_MS).unref();
  });
  const fail = (cause: TaskError) => {
    first ??= cause;
    if (cause instanceof InterruptedError) startAbortClock();
    dump.kill();
    if (!dumpComplete) gate.destroy(first);
  };
  dump.done.catch((err: TaskError) => fail(err));
  dump.stdout.on('error', (err) =>
    fail(
      new TaskError(`Reading pg_dump's output failed: ${describeError(err)}`, { exitCode: ExitCode.DATABASE, stage: 'dump', cause: err }),
    ),
  );
  gate.on('end', () => {
    dumpComplete = true;
  });
  input.setWatcher((err, command) => {
    if (command === 'AbortMultipartUploadCommand') {
      log.warn(
        'backup.abort-failed',
        `Aborting the multipart upload failed (${describeError(err)}). No object was created at the key; the bucket's lifecycle rule removes the orphaned parts.`,
        { key: input.key },
      );
      return;
    }
    fail(storageError(err, 'upload', `Uploading the dump (${command.replace(/Command$/, '')})`, config.storage));
  });
  const onSignal = () => {
    if (dumpComplete) {
      log.warn('backup.signal', `Received ${String(signal.reason)} after pg_dump finished: completing the upload and manifest first.`);
      return;
    }
    fail(new InterruptedError(String(signal.reason ?? 'a signal'), 'dump'));
  };
  signal.addEventListener('abort', onSignal, { once: true });

  const started = Date.now();
  const progress = setInterval(() => {
    const seconds = (Date.now() - started) / 1000;
    const rate = gate.bytes / 1024 / 1024 / Math.max(seconds, 0.001);
    log.info('backup.progress', `Dumped ${formatBytes(gate.bytes)} (${rate.toFixed(1)} MiB/s), stored ${formatBytes(uploaded)}`, {
      database: config.conn.database,
      key: input.key,
      bytes: gate.bytes,
      uploadedBytes: uploaded,
      elapsedSeconds: Math.round(seconds),
      rateMiBps: Math.round(rate * 10) / 10,
    });
  }, config.progressSeconds * 1000);
  progress.unref();

  dump.stdout.pipe(gate);
  const { done } = startStreamUpload({
    client: input.client,
    bucket: config.storage.bucket,
    key: input.key,
    body: gate,
    partSizeBytes: input.plan.partSizeBytes,
    queueSize: input.plan.queueSize,
    checksum: config.storage.checksum,
    tier: input.tier,
    contentType: 'application/octet-stream',
    onProgress: (bytes) => (uploaded = bytes),
  });

  try {
    const outcome = await Promise.race([done, abortDeadline]);
    if (outcome === 'timeout') {
      log.warn(
        'backup.abort-timeout',
        `In-flight parts did not finish within ${ABORT_WAIT_MS / 1000} s; stopping without waiting. No object was created; the bucket's lifecycle rule removes orphaned parts.`,
      );
    }
    // The abort clock starts only after a failure was recorded, so `first` is set on a timeout.
    if (first || outcome === 'timeout')
      throw first ?? new TaskError('The upload stopped without a recorded cause.', { exitCode: ExitCode.INTERNAL, stage: 'upload' });
    return { bytes: gate.bytes, sha256: gate.sha256, outcome };
  } catch (err) {
    const cause = first ?? storageError(err, 'upload', 'Uploading the dump', config.storage);
    dump.kill();
    await dump.done.catch(() => undefined);
    throw cause;
  } finally {
    clearInterval(progress);
    signal.removeEventListener('abort', onSignal);
    input.setWatcher(undefined);
  }
}
