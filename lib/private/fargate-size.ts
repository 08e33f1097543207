import { Token } from 'aws-cdk-lib';

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
