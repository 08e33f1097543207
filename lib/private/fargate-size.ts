import { Token } from 'aws-cdk-lib';
import { backupMemoryLimitMib, CHILD_PROCESS_RESERVE_MIB, DEFAULT_QUEUE_SIZE } from '../../task/src/contract';

/** Memory (MiB) Fargate accepts for each CPU value: [min, max, step]. */
const FARGATE_MEMORY: Record<number, readonly [number, number, number]> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** Problems with a Fargate CPU/memory pair, naming the settings (`cpuName`, `memoryName`) and the fix. */
export function fargateSizeProblems(cpuName: string, cpu: number, memoryName: string, memory: number): string[] {
  if (Token.isUnresolved(cpu) || Token.isUnresolved(memory)) return [];
  const range = FARGATE_MEMORY[cpu];
  if (!range) {
    return [
      `${cpuName} must be one of ${Object.keys(FARGATE_MEMORY).join(', ')} (Fargate CPU units; 1024 = 1 vCPU), got ${JSON.stringify(cpu)}.`,
    ];
  }
  const [min, max, step] = range;
  if (typeof memory !== 'number' || memory < min || memory > max || (memory - min) % step !== 0) {
    return [
      `${memoryName} ${JSON.stringify(memory)} is not valid with ${cpuName} ${cpu}: Fargate accepts ${min}-${max} MiB in steps of ${step}.`,
    ];
  }
  return [];
}

/**
 * {@link fargateSizeProblems} for a task whose `cpu` and memory may be unset, judged with the
 * values its construct will use (`defaults`); `at` prefixes the names (`drill.`), and
 * `memoryName` is how the memory setting is called where it was read.
 */
export function taskSizeProblems(
  at: string,
  size: { readonly cpu?: number; readonly memory?: number },
  defaults: { readonly cpu: number; readonly memoryLimitMiB: number },
  memoryName = 'memoryLimitMiB',
): string[] {
  return fargateSizeProblems(`${at}cpu`, size.cpu ?? defaults.cpu, `${at}${memoryName}`, size.memory ?? defaults.memoryLimitMiB);
}

/** The most streams a database's tasks are sized for: one vCPU each, up to Fargate's largest task (16 vCPU). */
export const MAX_JOBS = 16;

/** A task's size as a task definition takes it. */
export interface TaskSize {
  readonly cpu: number;
  readonly memoryLimitMiB: number;
}

/** Fargate's CPU values, smallest first. */
const FARGATE_CPUS = Object.keys(FARGATE_MEMORY)
  .map(Number)
  .sort((a, b) => a - b);

/** The smallest Fargate CPU value with a vCPU (1024 units) for each of `jobs` streams. */
export function cpuForJobs(jobs: number): number {
  return FARGATE_CPUS.find((cpu) => cpu >= jobs * 1024) ?? FARGATE_CPUS[FARGATE_CPUS.length - 1];
}

/** The smallest memory Fargate accepts with `cpu` that is at least `atLeastMiB` (its largest, if none is). */
function memoryAtLeast(cpu: number, atLeastMiB: number): number {
  const [min, max, step] = FARGATE_MEMORY[cpu];
  return Math.min(max, min + Math.max(0, Math.ceil((atLeastMiB - min) / step)) * step);
}

/**
 * The memory (MiB) a backup task of `jobs` streams needs at `queueSize` parts per stream: what
 * the CLI's memory check demands of BACKUP_MEMORY_LIMIT_MIB (smallest parts, the most pieces a
 * plan of `jobs` streams holds; contract/memory.ts), plus what the stack keeps for pg_dump.
 */
export function backupMemoryForJobs(jobs: number, queueSize: number = DEFAULT_QUEUE_SIZE): number {
  return backupMemoryLimitMib(jobs, queueSize) + CHILD_PROCESS_RESERVE_MIB;
}

/**
 * A task sized for `jobs` streams from its construct's `defaults`: a vCPU per stream (at least the
 * default CPU), and the smallest memory Fargate accepts with that CPU that holds the default
 * memory and `neededMiB`. One stream gives the defaults.
 */
export function sizeForJobs(jobs: number, defaults: { readonly cpu: number; readonly memoryLimitMiB: number }, neededMiB = 0): TaskSize {
  const cpu = Math.max(defaults.cpu, cpuForJobs(jobs));
  return { cpu, memoryLimitMiB: memoryAtLeast(cpu, Math.max(defaults.memoryLimitMiB, neededMiB)) };
}

/**
 * The task's size: the one given (each part left out is its default, as before `jobs`), or,
 * when neither CPU nor memory is given, {@link sizeForJobs}.
 */
export function taskSizeFor(
  jobs: number,
  given: { readonly cpu?: number; readonly memory?: number },
  defaults: { readonly cpu: number; readonly memoryLimitMiB: number },
  neededMiB = 0,
): TaskSize {
  if (given.cpu === undefined && given.memory === undefined) return sizeForJobs(jobs, defaults, neededMiB);
  return { cpu: given.cpu ?? defaults.cpu, memoryLimitMiB: given.memory ?? defaults.memoryLimitMiB };
}

/**
 * Problems with a size given explicitly (`cpu`, `memory`, each possibly unset: its default) for
 * `jobs` streams: fewer vCPUs than streams, or (with `minimumMiB`) less memory than the CLI
 * demands before it refuses to start. `at` prefixes the settings' names (`drill.`), `memoryName`
 * is how the memory setting is called where it was read, `neededMiB` is what {@link sizeForJobs}
 * sizes for (the fix the message offers), and `whose` names the database (`databases[0] 'orders'`).
 */
export function jobsSizeProblems(
  at: string,
  jobs: number | undefined,
  given: { readonly cpu?: number; readonly memory?: number },
  defaults: { readonly cpu: number; readonly memoryLimitMiB: number },
  options: { readonly memoryName?: string; readonly neededMiB?: number; readonly minimumMiB?: number; readonly whose?: string } = {},
): string[] {
  if (jobs === undefined || jobs <= 1 || !Number.isInteger(jobs) || jobs > MAX_JOBS) return [];
  if (given.cpu === undefined && given.memory === undefined) return [];
  const cpu = given.cpu ?? defaults.cpu;
  const memory = given.memory ?? defaults.memoryLimitMiB;
  if (Token.isUnresolved(cpu) || Token.isUnresolved(memory)) return [];
  const memoryName = `${at}${options.memoryName ?? 'memoryLimitMiB'}`;
  const streams = `${jobs} streams (${options.whose ? `${options.whose}, ` : ''}jobs ${jobs})`;
  const sized = sizeForJobs(jobs, defaults, options.neededMiB);
  const fix = `leave ${at}cpu and ${memoryName} out to have the task sized for them (${sized.cpu} CPU, ${sized.memoryLimitMiB} MiB), or lower jobs.`;
  const problems: string[] = [];
  if (cpu < jobs * 1024)
    problems.push(
      `${at}cpu ${cpu} gives ${streams} ${cpu / 1024} vCPU: set it to at least ${cpuForJobs(jobs)} (a vCPU per stream), ${fix}`,
    );
  if (options.minimumMiB !== undefined && memory < options.minimumMiB)
    problems.push(
      `${memoryName} ${memory} cannot hold the upload buffers of ${streams}: the backup refuses to start below ${options.minimumMiB} MiB. Set it to at least that, ${fix}`,
    );
  return problems;
}
