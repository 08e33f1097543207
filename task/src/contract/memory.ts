/**
 * What a backup's uploads hold in memory: the one formula the CLI refuses by
 * (storage/part-size.ts, before anything connects to S3) and the stack sizes its tasks by
 * (lib/private/fargate-size.ts), so that a task the stack sizes for `jobs` streams is one the
 * CLI accepts.
 */

const MIB = 1024 * 1024;

/** Memory the backup process needs besides the part buffers (Node, SDK, pipes), measured with margin. */
export const UPLOAD_BASELINE_MIB = 96;

/**
 * Memory each worker thread of a parallel backup adds (--stream-threads): its own V8 isolate,
 * the bundle and an S3 client. Measured at 32-37 MB a thread at --jobs 2 (docs/performance.md,
 * "Streams on worker threads"), with margin.
 */
export const THREAD_BASELINE_MIB = 48;

/** The smallest part the CLI sizes (larger for a database over about 65 GiB: its size x 1.2 / 10,000). */
export const DEFAULT_MIN_PART_MIB = 8;

/** Parts each stream uploads at once, unless BACKUP_QUEUE_SIZE says otherwise. */
export const DEFAULT_QUEUE_SIZE = 4;

/**
 * Task memory the stack keeps for pg_dump and the other children: the backup container's
 * BACKUP_MEMORY_LIMIT_MIB is the task's memory minus this.
 */
export const CHILD_PROCESS_RESERVE_MIB = 256;

/**
 * The most pieces a parallel backup of `jobs` streams is planned in (backup/pieces.ts): the
 * schema, the rest, and at most 6 per stream (pieces are at least a third of a stream's share,
 * and a table of half a piece or more gets one piece per piece size, rounded: at most twice its
 * share). Each may hold a part buffer until every stream has finished. A single stream (1) has
 * one object and holds nothing.
 */
export function maxPieces(jobs: number): number {
  return jobs > 1 ? 6 * jobs + 2 : 0;
}

/** What the upload buffers are sized from. */
export interface UploadMemoryInput {
  readonly partSizeBytes: number;
  /** Parts each stream uploads at once. */
  readonly queueSize: number;
  /** Uploads running at once (a parallel backup's jobs). */
  readonly streams: number;
  /** Part buffers that wait beside them until the end (a parallel backup's finished pieces). */
  readonly heldParts: number;
  /** Worker threads the streams run on (0 when they share the main thread). @default 0 */
  readonly threads?: number;
}

/** Part buffers alive at the peak: each stream's queue plus the one being filled and the one being assembled, and the held ones. */
export function uploadBuffers(input: Omit<UploadMemoryInput, 'partSizeBytes'>): number {
  return input.streams * (input.queueSize + 2) + input.heldParts;
}

/** MiB the backup process needs for its upload buffers, its baseline and its worker threads: what BACKUP_MEMORY_LIMIT_MIB must allow. */
export function uploadMemoryMib(input: UploadMemoryInput): number {
  return Math.ceil((uploadBuffers(input) * input.partSizeBytes) / MIB) + UPLOAD_BASELINE_MIB + (input.threads ?? 0) * THREAD_BASELINE_MIB;
}

/**
 * The memory limit (MiB) a backup of `jobs` streams needs with the smallest parts: at
 * `queueSize` parts per stream, or at 1 (below which the CLI refuses rather than lowering it).
 * Without worker threads: the stack gives a task one vCPU per stream, where `auto` keeps the
 * streams on the main thread; a task given 1.5 vCPUs a stream or more has Fargate's floor of
 * 2 GiB per vCPU, far above what the threads add.
 */
export function backupMemoryLimitMib(jobs: number, queueSize: number = DEFAULT_QUEUE_SIZE): number {
  return uploadMemoryMib({ partSizeBytes: DEFAULT_MIN_PART_MIB * MIB, queueSize, streams: jobs, heldParts: maxPieces(jobs) });
}
