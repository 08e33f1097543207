import { DEFAULT_MIN_PART_MIB, THREAD_BASELINE_MIB, UPLOAD_BASELINE_MIB, uploadBuffers, uploadMemoryMib } from '../contract';
import { ExitCode, TaskError } from '../errors';

export const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** S3 allows at most 10,000 parts of 5 MiB to 5 GiB each. */
export const MAX_PARTS = 10_000;
export const MIN_PART_BYTES = 5 * MIB;
export const MAX_PART_BYTES = 5 * GIB;
/** Our floor: fewer, larger requests than lib-storage's 5 MiB default, at little memory cost. */
export const DEFAULT_MIN_PART_BYTES = DEFAULT_MIN_PART_MIB * MIB;
/** The archive may outgrow pg_database_size() (e.g. little compression, TOAST data): keep headroom. */
export const SIZE_HEADROOM = 1.2;
/** Memory the process needs besides the part buffers (Node, SDK, pipes), measured with margin. */
export const BASELINE_MIB = UPLOAD_BASELINE_MIB;

export interface PartPlanInput {
  /** pg_database_size() of the database to dump. */
  readonly databaseSizeBytes: number;
  /** Explicit part size (--part-size-mib); sizing from the database otherwise. */
  readonly partSizeMib?: number;
  /** Parts uploaded concurrently. */
  readonly queueSize: number;
  /** Memory available to the process; no memory check when undefined. */
  readonly memoryLimitMib?: number;
  /** Uploads running at once (a parallel backup's jobs). @default 1 */
  readonly streams?: number;
  /** Part buffers that may wait beside them until the end (a parallel backup's finished small pieces, held before they complete). @default 0 */
  readonly heldParts?: number;
  /** Worker threads the streams run on (a parallel backup's --stream-threads); 0 when they share the main thread. @default 0 */
  readonly threads?: number;
}

export interface PartPlan {
  readonly partSizeBytes: number;
  /** Possibly lowered from the requested queue size to fit the memory limit. */
  readonly queueSize: number;
  /** The largest archive this plan can upload (part size x 10,000). */
  readonly capacityBytes: number;
  /** The archive size the plan is made for (database size x headroom). */
  readonly estimatedBytes: number;
  /** Peak memory of the upload buffers: (streams x (queue size + 2) + held parts) x part size. */
  readonly bufferBytes: number;
  /** Things worth a warning in the log (e.g. the queue was reduced). */
  readonly notes: readonly string[];
}

const fmt = (bytes: number) =>
  bytes >= GIB * 1024
    ? `${(bytes / GIB / 1024).toFixed(1)} TiB`
    : bytes >= GIB
      ? `${(bytes / GIB).toFixed(1)} GiB`
      : `${Math.ceil(bytes / MIB)} MiB`;

function refuse(message: string): never {
  throw new TaskError(message, { exitCode: ExitCode.CONFIG, stage: 'plan' });
}

/**
 * Sizes multipart parts so that a dump of the database fits in S3's 10,000 parts with
 * headroom, and the buffers fit in memory. Refuses, before any work, a configuration that
 * cannot fit, with the numbers and the fix.
 */
export function planParts(input: PartPlanInput): PartPlan {
  const notes: string[] = [];
  const estimatedBytes = Math.ceil(input.databaseSizeBytes * SIZE_HEADROOM);
  let partSizeBytes: number;
  if (input.partSizeMib !== undefined) {
    partSizeBytes = input.partSizeMib * MIB;
    if (partSizeBytes * MAX_PARTS < estimatedBytes) {
      const needed = Math.ceil(estimatedBytes / MAX_PARTS / MIB);
      const fix =
        needed * MIB <= MAX_PART_BYTES
          ? `Set --part-size-mib to at least ${needed}, or leave it unset to size parts automatically.`
          : `No part size fits it in one S3 object (5 GiB x 10,000 parts = ${fmt(MAX_PART_BYTES * MAX_PARTS)}): back up its schemas or tables separately (see "Beyond one stream" in docs/performance.md).`;
      refuse(
        `--part-size-mib ${input.partSizeMib} caps a backup at ${fmt(partSizeBytes * MAX_PARTS)} (10,000 parts), but the database is ` +
          `${fmt(input.databaseSizeBytes)} (${fmt(estimatedBytes)} with headroom). ${fix}`,
      );
    }
  } else {
    partSizeBytes = Math.max(DEFAULT_MIN_PART_BYTES, Math.ceil(estimatedBytes / MAX_PARTS / MIB) * MIB);
    if (partSizeBytes > MAX_PART_BYTES) {
      refuse(
        `The database is ${fmt(input.databaseSizeBytes)}; with ${SIZE_HEADROOM}x headroom its archive could exceed S3's largest object ` +
          `(10,000 parts of 5 GiB = ${fmt(MAX_PART_BYTES * MAX_PARTS)}). One streamed object cannot hold it: back up its schemas or tables separately ` +
          `(see "Beyond one stream" in docs/performance.md).`,
      );
    }
  }

  let queueSize = input.queueSize;
  const streams = input.streams ?? 1;
  const heldParts = input.heldParts ?? 0;
  const threads = input.threads ?? 0;
  // The stack sizes its tasks by the same formula (contract/memory.ts), so that it passes this check.
  const buffers = (q: number) => uploadBuffers({ streams, queueSize: q, heldParts });
  const needMib = (q: number) => uploadMemoryMib({ partSizeBytes, streams, queueSize: q, heldParts, threads });
  if (input.memoryLimitMib !== undefined) {
    while (queueSize > 1 && needMib(queueSize) > input.memoryLimitMib) queueSize--;
    if (needMib(queueSize) > input.memoryLimitMib) {
      const what =
        streams === 1 && !input.heldParts
          ? '3 part buffers'
          : `${buffers(1)} part buffers: ${streams} streams x 3${input.heldParts ? ` + ${input.heldParts} held` : ''}`;
      refuse(
        `Parts of ${fmt(partSizeBytes)} need at least ${needMib(1)} MiB of memory (${what} + ${BASELINE_MIB} MiB` +
          `${threads ? ` + ${threads} worker threads x ${THREAD_BASELINE_MIB} MiB` : ''}), ` +
          `but the memory limit is ${input.memoryLimitMib} MiB. Give the task at least ${needMib(1)} MiB ` +
          `(${needMib(input.queueSize)} MiB for --queue-size ${input.queueSize}), or lower --part-size-mib${streams > 1 ? ' or --jobs' : ''}` +
          `${threads ? ', or set --stream-threads off' : ''}.`,
      );
    }
    if (queueSize < input.queueSize) {
      notes.push(
        `Upload concurrency lowered from ${input.queueSize} to ${queueSize} parts to fit the ${input.memoryLimitMib} MiB memory limit.`,
      );
    }
  }
  return {
    partSizeBytes,
    queueSize,
    capacityBytes: partSizeBytes * MAX_PARTS,
    estimatedBytes,
    bufferBytes: buffers(queueSize) * partSizeBytes,
    notes,
  };
}
