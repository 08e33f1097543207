import { BACKUP_TASK_DEFAULTS } from '../postgres-backup';
import { backupMemoryForJobs, jobsSizeProblems, taskSizeProblems } from '../private/fargate-size';
import { DRILL_DEFAULTS } from '../restore-drill';
import { RESTORE_TASK_DEFAULTS } from '../restore-task';
import { DEFAULT_POSTGRES_MAJOR } from '../task-image';
import type { DatabaseConfig } from './databases';
import { ContextReader, Raw, show } from './reader';
import { scheduleExpression } from './schedule';

/** The retention values CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** The tasks' settings; each left out is the construct's default (PostgresBackup, RestoreDrill, RestoreTask). */
export interface TasksConfig {
  /** @default 1024 */
  readonly cpu?: number;
  /** @default 2048 */
  readonly memoryMiB?: number;
  /** @default 'X86_64' */
  readonly cpuArchitecture?: 'X86_64' | 'ARM64';
  /** @default 18 */
  readonly postgresMajorVersion?: number;
  /** @default 90 */
  readonly logRetentionDays?: number;
  /** @default 26 */
  readonly missedBackupAlarmHours?: number;
  /** @default true */
  readonly globals?: boolean;
  /** The restore drill. @default - enabled, cron(0 6 ? * MON *), 1024 CPU, 4096 MiB, 50 GiB, 7 days */
  readonly drill: {
    readonly enabled?: boolean;
    readonly schedule?: string;
    readonly cpu?: number;
    readonly memoryMiB?: number;
    readonly ephemeralStorageGiB?: number;
    readonly overdueAfterDays?: number;
  };
  /** The on-demand restore task, one per database. @default - enabled, 1024 CPU, 2048 MiB, 50 GiB */
  readonly restoreTask: {
    readonly enabled?: boolean;
    readonly cpu?: number;
    readonly memoryMiB?: number;
    /** Holds the downloaded archive. */
    readonly ephemeralStorageGiB?: number;
  };
}

/** Validates the sizes, architecture, client version, logs and alarms of the tasks, and the drill and restore task. */
export function parseTasks(r: ContextReader, ctx: Raw): TasksConfig {
  const cpuArchitecture = ctx.cpuArchitecture;
  if (cpuArchitecture !== undefined && cpuArchitecture !== 'X86_64' && cpuArchitecture !== 'ARM64')
    r.problems.push(`cpuArchitecture must be "X86_64" or "ARM64", got ${show(cpuArchitecture)}.`);

  const logRetentionDays = r.int('logRetentionDays', ctx.logRetentionDays, 1, 3653, { default: BACKUP_TASK_DEFAULTS.logRetention });
  if (logRetentionDays !== undefined && !LOG_RETENTION_DAYS.includes(logRetentionDays))
    r.problems.push(`logRetentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')} (CloudWatch Logs' values), got ${logRetentionDays}.`);

  const cpu = r.int('cpu', ctx.cpu, 256, 16384, {
    default: BACKUP_TASK_DEFAULTS.cpu,
    hint: 'Fargate CPU units; 1024 = 1 vCPU, what single-threaded pg_dump compression uses.',
  });
  const memoryMiB = r.int('memoryMiB', ctx.memoryMiB, 512, 122880, { default: BACKUP_TASK_DEFAULTS.memoryLimitMiB });

  const drillRaw = r.obj('drill', ctx.drill, ['enabled', 'schedule', 'cpu', 'memoryMiB', 'ephemeralStorageGiB', 'overdueAfterDays']) ?? {};
  const drill = {
    enabled: r.bool('drill.enabled', drillRaw.enabled),
    schedule: drillRaw.schedule === undefined ? undefined : scheduleExpression('drill.schedule', drillRaw.schedule, r.problems),
    cpu: r.int('drill.cpu', drillRaw.cpu, 256, 16384, { default: DRILL_DEFAULTS.cpu }),
    memoryMiB: r.int('drill.memoryMiB', drillRaw.memoryMiB, 512, 122880, { default: DRILL_DEFAULTS.memoryLimitMiB }),
    ephemeralStorageGiB: r.int('drill.ephemeralStorageGiB', drillRaw.ephemeralStorageGiB, 21, 200, {
      default: DRILL_DEFAULTS.ephemeralStorageGiB,
      hint: 'It must hold the archive and the restored database.',
    }),
    overdueAfterDays: r.int('drill.overdueAfterDays', drillRaw.overdueAfterDays, 1, 7, {
      default: DRILL_DEFAULTS.overdueAfterDays,
      hint: 'CloudWatch evaluates at most 7 days.',
    }),
  };

  const restoreRaw = r.obj('restoreTask', ctx.restoreTask, ['enabled', 'cpu', 'memoryMiB', 'ephemeralStorageGiB']) ?? {};
  const restoreTask = {
    enabled: r.bool('restoreTask.enabled', restoreRaw.enabled),
    cpu: r.int('restoreTask.cpu', restoreRaw.cpu, 256, 16384, { default: RESTORE_TASK_DEFAULTS.cpu }),
    memoryMiB: r.int('restoreTask.memoryMiB', restoreRaw.memoryMiB, 512, 122880, { default: RESTORE_TASK_DEFAULTS.memoryLimitMiB }),
    ephemeralStorageGiB: r.int('restoreTask.ephemeralStorageGiB', restoreRaw.ephemeralStorageGiB, 21, 200, {
      default: RESTORE_TASK_DEFAULTS.ephemeralStorageGiB,
      hint: 'It must hold the downloaded archive (Fargate gives at most 200).',
    }),
  };

  // Fargate's CPU and memory pairs, judged with what the constructs will use (a disabled task has none).
  const sizes = [
    { at: '', size: { cpu, memoryMiB }, defaults: BACKUP_TASK_DEFAULTS, enabled: true },
    { at: 'drill.', size: drill, defaults: DRILL_DEFAULTS, enabled: drill.enabled !== false },
    { at: 'restoreTask.', size: restoreTask, defaults: RESTORE_TASK_DEFAULTS, enabled: restoreTask.enabled !== false },
  ];
  for (const { at, size, defaults, enabled } of sizes)
    if (enabled) r.problems.push(...taskSizeProblems(at, { cpu: size.cpu, memory: size.memoryMiB }, defaults, 'memoryMiB'));

  return {
    cpu,
    memoryMiB,
    cpuArchitecture: cpuArchitecture === 'ARM64' || cpuArchitecture === 'X86_64' ? cpuArchitecture : undefined,
    postgresMajorVersion: r.int('postgresMajorVersion', ctx.postgresMajorVersion, 10, 99, {
      default: DEFAULT_POSTGRES_MAJOR,
      hint: 'Use at least the newest server major you back up.',
    }),
    logRetentionDays,
    missedBackupAlarmHours: r.int('missedBackupAlarmHours', ctx.missedBackupAlarmHours, 1, 168, {
      default: BACKUP_TASK_DEFAULTS.missedBackupAlarmHours,
      hint: 'CloudWatch evaluates at most 7 days.',
    }),
    globals: r.bool('globals', ctx.globals),
    drill,
    restoreTask,
  };
}

/**
 * The tasks' sizes given explicitly (`cpu`/`memoryMiB`, `drill.…`, `restoreTask.…`, which apply to
 * every database) that are too small for a database's `jobs`: fewer vCPUs than streams, or less
 * memory than the backup demands of its streams' upload buffers. A size left out is sized for
 * each database's jobs by its construct, and needs no check.
 */
export function taskJobsProblems(tasks: TasksConfig, databases: readonly DatabaseConfig[]): string[] {
  return databases.flatMap((db, i) => {
    const jobs = db.jobs;
    if (jobs === undefined || jobs <= 1) return [];
    const whose = `databases[${i}] ${show(db.name)}`;
    return [
      ...jobsSizeProblems('', jobs, { cpu: tasks.cpu, memory: tasks.memoryMiB }, BACKUP_TASK_DEFAULTS, {
        memoryName: 'memoryMiB',
        neededMiB: backupMemoryForJobs(jobs),
        minimumMiB: backupMemoryForJobs(jobs, 1),
        whose,
      }),
      ...(tasks.drill.enabled === false
        ? []
        : jobsSizeProblems('drill.', jobs, { cpu: tasks.drill.cpu, memory: tasks.drill.memoryMiB }, DRILL_DEFAULTS, {
            memoryName: 'memoryMiB',
            whose,
          })),
      ...(tasks.restoreTask.enabled === false
        ? []
        : jobsSizeProblems(
            'restoreTask.',
            jobs,
            { cpu: tasks.restoreTask.cpu, memory: tasks.restoreTask.memoryMiB },
            RESTORE_TASK_DEFAULTS,
            {
              memoryName: 'memoryMiB',
              whose,
            },
          )),
    ];
  });
}
