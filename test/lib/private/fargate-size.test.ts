/**
 * The task sizes `jobs` gives, judged by the CLI itself: the backup's memory check
 * (task/src/storage/part-size.ts, `planParts`, run before anything connects to S3) with the
 * memory limit the stack sets, the streams and the most pieces a plan of that many streams holds.
 */
import { SETTINGS } from '../../../task/src/config/settings';
import { CHILD_PROCESS_RESERVE_MIB, maxPieces } from '../../../task/src/contract';
import { planParts } from '../../../task/src/storage/part-size';
import { backupFixture } from '../../support/cdk';
import { backupMemoryForJobs, fargateSizeProblems, MAX_JOBS, sizeForJobs } from '../../../lib/private/fargate-size';
import { BACKUP_TASK_DEFAULTS, DRILL_DEFAULTS, RESTORE_TASK_DEFAULTS } from '../../../lib';

const GB = 1e9;
const TIB = 1024 ** 4;
const JOBS = Array.from({ length: MAX_JOBS }, (_, i) => i + 1);
/** The CLI's own default queue, from its settings table. */
const QUEUE = SETTINGS.queueSize.default as number;

/** What the CLI plans (or refuses) for a backup of `jobs` streams with a task of `memory` MiB. */
const cliPlan = (jobs: number, memory: number, databaseSizeBytes = 50 * GB) =>
  planParts({
    databaseSizeBytes,
    queueSize: QUEUE,
    memoryLimitMib: memory - CHILD_PROCESS_RESERVE_MIB,
    streams: jobs,
    heldParts: maxPieces(jobs),
  });

describe('a backup task sized for jobs', () => {
  test.each(JOBS)(
    'jobs %i: a valid Fargate size, a vCPU per stream, and the CLI keeps its full upload queue up to a 1 TiB database',
    (jobs) => {
      const size = sizeForJobs(jobs, BACKUP_TASK_DEFAULTS, backupMemoryForJobs(jobs));
      expect(fargateSizeProblems('cpu', size.cpu, 'memory', size.memoryLimitMiB)).toEqual([]);
      expect(size.cpu).toBeGreaterThanOrEqual(jobs * 1024);
      // The CLI accepts it without lowering the queue, with the smallest parts (databases up to ~65 GiB) and with
      // the larger parts of a 1 TiB database (docs/performance.md says so), even with the most pieces held
      for (const databaseSizeBytes of [50 * GB, TIB]) {
        const plan = cliPlan(jobs, size.memoryLimitMiB, databaseSizeBytes);
        expect(plan.queueSize).toBe(QUEUE);
        expect(plan.notes).toEqual([]);
      }
    },
  );

  test.each(JOBS)('jobs %i: the smallest memory the configuration accepts is exactly where the CLI stops refusing', (jobs) => {
    const minimum = backupMemoryForJobs(jobs, 1);
    expect(cliPlan(jobs, minimum).queueSize).toBeGreaterThanOrEqual(1);
    expect(() => cliPlan(jobs, minimum - 1)).toThrow(/need at least \d+ MiB of memory/);
  });

  test('the synthesized task: BACKUP_MEMORY_LIMIT_MIB is what the CLI is given, and it passes the CLI check', () => {
    for (const jobs of [2, 7, 16]) {
      const { template } = backupFixture({ jobs });
      const [definition] = Object.values(template.findResources('AWS::ECS::TaskDefinition')).filter((d) =>
        String(d.Properties.Family).endsWith('-backup'),
      );
      const backup = (
        definition.Properties.ContainerDefinitions as Array<{ Name: string; Environment: Array<{ Name: string; Value: string }> }>
      ).find((c) => c.Name === 'backup')!;
      const env = Object.fromEntries(backup.Environment.map((e) => [e.Name, e.Value]));
      expect(env.BACKUP_JOBS).toBe(String(jobs));
      const limit = Number(env.BACKUP_MEMORY_LIMIT_MIB);
      expect(limit).toBe(Number(definition.Properties.Memory) - CHILD_PROCESS_RESERVE_MIB);
      expect(() =>
        planParts({ databaseSizeBytes: 50 * GB, queueSize: QUEUE, memoryLimitMib: limit, streams: jobs, heldParts: maxPieces(jobs) }),
      ).not.toThrow();
    }
  });
});

describe('the drill and the restore task sized for jobs', () => {
  test.each(JOBS)('jobs %i: a valid Fargate size with a vCPU per job, never below their defaults', (jobs) => {
    for (const defaults of [DRILL_DEFAULTS, RESTORE_TASK_DEFAULTS]) {
      const size = sizeForJobs(jobs, defaults);
      expect(fargateSizeProblems('cpu', size.cpu, 'memory', size.memoryLimitMiB)).toEqual([]);
      expect(size.cpu).toBeGreaterThanOrEqual(Math.max(jobs * 1024, defaults.cpu));
      expect(size.memoryLimitMiB).toBeGreaterThanOrEqual(defaults.memoryLimitMiB);
    }
    expect(sizeForJobs(1, DRILL_DEFAULTS)).toEqual({ cpu: DRILL_DEFAULTS.cpu, memoryLimitMiB: DRILL_DEFAULTS.memoryLimitMiB });
  });
});

describe('PostgresBackup jobs', () => {
  test('out of range, beside a selection, or with an explicit size too small: every problem at once', () => {
    expect(() => backupFixture({ jobs: 17, cpu: 1024, memoryLimitMiB: 1000 })).toThrow(
      /Invalid PostgresBackup configuration \(2 problems\):\n- memoryLimitMiB 1000 is not valid with cpu 1024.*\n- jobs must be an integer 1-16/,
    );
    expect(() => backupFixture({ jobs: 4, cpu: 1024, memoryLimitMiB: 2048, selection: { schemas: ['app'] } })).toThrow(
      /\(2 problems\):\n- jobs 4 takes the whole database in pieces.*\n- cpu 1024 gives 4 streams \(jobs 4\) 1 vCPU: set it to at least 4096/,
    );
    expect(() => backupFixture({ jobs: 4, restoreTask: { cpu: 2048, memoryLimitMiB: 4096 } })).toThrow(
      /\(1 problem\):\n- restoreTask\.cpu 2048 gives 4 streams \(jobs 4\) 2 vCPU/,
    );
    expect(() => backupFixture({ jobs: 4, drill: { cpu: 1024 } })).toThrow(
      /Invalid restore drill configuration \(1 problem\):\n- drill\.cpu 1024 gives 4 streams \(jobs 4\) 1 vCPU/,
    );
  });
});
