/**
 * `jobs` in cdk.json (per database, or project-wide): the backup task gets BACKUP_JOBS, the drill
 * and the restore task RESTORE_JOBS, and each task left unsized gets a vCPU per stream and the
 * memory Fargate pairs with it. Sizes given explicitly that are too small for jobs, and jobs
 * values out of range, are configuration problems, reported with every other problem at once.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../../bin/app';
import { parseProjectConfig } from '../../../lib';
import { backupMemoryLimitMib, CHILD_PROCESS_RESERVE_MIB } from '../../../task/src/contract';
import { exampleContext, problemsOf } from '../../support/cdk';

const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:111122223333:secret:${name}/postgres-AbCdEf`;

/** The committed example without its explicit restore task size (which applies to every database). */
function context(databases: Array<Record<string, unknown>>, more: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...exampleContext(), restoreTask: { enabled: true, ephemeralStorageGiB: 50 }, databases, ...more };
}

/** Each database's nested stack template, by database name. */
function templates(ctx: Record<string, unknown>): Record<string, Template> {
  const { stack } = buildApp(new App({ context: ctx }));
  const config = parseProjectConfig(ctx);
  return Object.fromEntries(config.databases.map((db, i) => [db.name, Template.fromStack(stack.databaseStacks[i])]));
}

/** The task definition of `family` (`backup`, `drill`, `restore`): its size, and in its CLI container each variable of `env` set to its value (undefined: not set). */
function expectTask(
  template: Template,
  family: string,
  size: { cpu: number; memory: number },
  container: string,
  env: Record<string, unknown>,
) {
  const Family = Match.stringLikeRegexp(`-${family}$`);
  template.hasResourceProperties('AWS::ECS::TaskDefinition', { Family, Cpu: String(size.cpu), Memory: String(size.memory) });
  for (const [name, value] of Object.entries(env)) {
    const Environment =
      value === undefined
        ? Match.not(Match.arrayWith([Match.objectLike({ Name: name })]))
        : Match.arrayWith([{ Name: name, Value: value }]);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family,
      ContainerDefinitions: Match.arrayWith([Match.objectLike({ Name: container, Environment })]),
    });
  }
}

/** What each task is sized to for `jobs`, as docs/configuration.md states it. */
const SIZES: Record<number, { backup: [number, number]; drill: [number, number]; restore: [number, number] }> = {
  1: { backup: [1024, 2048], drill: [1024, 4096], restore: [1024, 2048] },
  2: { backup: [2048, 4096], drill: [2048, 4096], restore: [2048, 4096] },
  4: { backup: [4096, 8192], drill: [4096, 8192], restore: [4096, 8192] },
  16: { backup: [16384, 32768], drill: [16384, 32768], restore: [16384, 32768] },
};

function expectSizedFor(template: Template, jobs: number): void {
  const s = SIZES[jobs];
  const streams = jobs > 1 ? String(jobs) : undefined;
  expectTask(template, 'backup', { cpu: s.backup[0], memory: s.backup[1] }, 'backup', {
    BACKUP_JOBS: streams,
    BACKUP_MEMORY_LIMIT_MIB: String(s.backup[1] - 256),
  });
  expectTask(template, 'drill', { cpu: s.drill[0], memory: s.drill[1] }, 'verify', { RESTORE_JOBS: streams });
  expectTask(template, 'restore', { cpu: s.restore[0], memory: s.restore[1] }, 'restore', { RESTORE_JOBS: streams });
}

describe('jobs in cdk.json', () => {
  test.each([1, 4, 16])(
    'databases[].jobs %i: the backup gets BACKUP_JOBS, the drill and restore RESTORE_JOBS, each a vCPU per stream',
    (jobs) => {
      const { orders } = templates(context([{ name: 'orders', secret: secret('orders'), jobs }]));
      expectSizedFor(orders, jobs);
    },
  );

  test('a mixed project: each database is sized for its own jobs, or the project-wide jobs when it has none', () => {
    // GIVEN a project-wide jobs of 2, one database that keeps one stream and one with 16
    const t = templates(
      context(
        [
          { name: 'orders', secret: secret('orders'), jobs: 1 },
          { name: 'billing', secret: secret('billing') },
          { name: 'ledger', secret: secret('ledger'), jobs: 16 },
          // a selection is one stream: it keeps 1 beside a project-wide jobs only by saying so
          { name: 'audit', secret: secret('audit'), jobs: 1, excludeTableData: ['public.audit_log'] },
        ],
        { jobs: 2 },
      ),
    );
    // THEN each nested stack's tasks follow that database's jobs
    expectSizedFor(t.orders, 1);
    expectSizedFor(t.billing, 2);
    expectSizedFor(t.ledger, 16);
    expectSizedFor(t.audit, 1);
  });

  test('no jobs anywhere: the committed example synthesizes as before (no BACKUP_JOBS or RESTORE_JOBS, default sizes)', () => {
    const t = templates(exampleContext());
    for (const name of ['orders', 'billing']) expectSizedFor(t[name], 1);
  });

  test('a task size given explicitly keeps its value, and applies to every database', () => {
    const t = templates(
      context([{ name: 'orders', secret: secret('orders'), jobs: 4 }], {
        cpu: 8192,
        memoryMiB: 16384,
        drill: { cpu: 4096, memoryMiB: 30720 },
        restoreTask: { cpu: 16384, memoryMiB: 32768 },
      }),
    );
    expectTask(t.orders, 'backup', { cpu: 8192, memory: 16384 }, 'backup', { BACKUP_JOBS: '4' });
    expectTask(t.orders, 'drill', { cpu: 4096, memory: 30720 }, 'verify', { RESTORE_JOBS: '4' });
    expectTask(t.orders, 'restore', { cpu: 16384, memory: 32768 }, 'restore', { RESTORE_JOBS: '4' });
  });
});

describe('jobs: configuration problems, all at once', () => {
  test('0, 17, 2.5, "4", a misspelt neighbour key and a bad project-wide jobs are listed together, with everything else', () => {
    const problems = problemsOf(
      context(
        [
          { name: 'a', secret: secret('a'), jobs: 0 },
          { name: 'b', secret: secret('b'), jobs: 17 },
          { name: 'c', secret: secret('c'), jobs: 2.5 },
          { name: 'd', secret: secret('d'), jobs: '4' },
          { name: 'e', secret: secret('e'), job: 4 },
        ],
        { jobs: 'many', alarmEmail: 'not-an-address' },
      ),
    );
    expect(problems).toEqual([
      "jobs must be an integer 1-16, got 'many'. Streams of each database's backup (its own jobs wins), each with a vCPU: Fargate's largest task has 16. Leave it out for the default (1).",
      "databases[0].jobs must be an integer 1-16, got 0. Streams of the backup, each with a vCPU (Fargate's largest task has 16); the project's jobs when left out. Leave it out for the default (1).",
      "databases[1].jobs must be an integer 1-16, got 17. Streams of the backup, each with a vCPU (Fargate's largest task has 16); the project's jobs when left out. Leave it out for the default (1).",
      "databases[2].jobs must be an integer 1-16, got 2.5. Streams of the backup, each with a vCPU (Fargate's largest task has 16); the project's jobs when left out. Leave it out for the default (1).",
      "databases[3].jobs must be an integer 1-16, got '4'. Streams of the backup, each with a vCPU (Fargate's largest task has 16); the project's jobs when left out. Leave it out for the default (1).",
      "databases[4].job is not a known key: did you mean 'databases[4].jobs'?",
      "alarmEmail 'not-an-address' is not valid: an e-mail address, e.g. 'ops@example.com'.",
    ]);
  });

  test('a size given explicitly that is too small for a database’s jobs names the setting, the database and the fix', () => {
    const problems = problemsOf({
      // The committed example sets restoreTask.cpu 1024 for every database
      ...exampleContext(),
      databases: [
        { name: 'orders', secret: secret('orders'), jobs: 4 },
        { name: 'billing', secret: secret('billing') },
      ],
      cpu: 256,
      memoryMiB: 512,
      drill: { cpu: 2048, memoryMiB: 4096 },
    });
    // What the CLI refuses below: its memory check (contract/memory.ts) at one part per stream, plus what the stack keeps for pg_dump.
    const minimum = backupMemoryLimitMib(4, 1) + CHILD_PROCESS_RESERVE_MIB;
    expect(problems).toEqual([
      "cpu 256 gives 4 streams (databases[0] 'orders', jobs 4) 0.25 vCPU: set it to at least 4096 (a vCPU per stream), leave cpu and memoryMiB out to have the task sized for them (4096 CPU, 8192 MiB), or lower jobs.",
      `memoryMiB 512 cannot hold the upload buffers of 4 streams (databases[0] 'orders', jobs 4): the backup refuses to start below ${minimum} MiB. Set it to at least that, leave cpu and memoryMiB out to have the task sized for them (4096 CPU, 8192 MiB), or lower jobs.`,
      "drill.cpu 2048 gives 4 streams (databases[0] 'orders', jobs 4) 2 vCPU: set it to at least 4096 (a vCPU per stream), leave drill.cpu and drill.memoryMiB out to have the task sized for them (4096 CPU, 8192 MiB), or lower jobs.",
      "restoreTask.cpu 1024 gives 4 streams (databases[0] 'orders', jobs 4) 1 vCPU: set it to at least 4096 (a vCPU per stream), leave restoreTask.cpu and restoreTask.memoryMiB out to have the task sized for them (4096 CPU, 8192 MiB), or lower jobs.",
    ]);
    // A disabled task is not judged.
    expect(
      problemsOf({
        ...exampleContext(),
        databases: [{ name: 'orders', secret: secret('orders'), jobs: 4 }],
        drill: { enabled: false, cpu: 1024 },
        restoreTask: { enabled: false, cpu: 1024 },
      }),
    ).toEqual([]);
  });

  test('jobs above 1 beside a selection (one stream) is refused, whether the database or the project asks for it', () => {
    const db = { name: 'audit', secret: secret('audit'), excludeTableData: ['public.audit_log'] };
    expect(problemsOf(context([{ ...db, jobs: 2 }]))).toEqual([
      'databases[0].jobs 2 takes the whole database in pieces, but databases[0] dumps a selection (excludeTableData), which is one stream. Leave out one or the other.',
    ]);
    expect(problemsOf(context([db], { jobs: 2 }))).toEqual([
      "databases[0].jobs 2 (the project's jobs) takes the whole database in pieces, but databases[0] dumps a selection (excludeTableData), which is one stream. Leave out one or the other, or set databases[0].jobs to 1.",
    ]);
  });
});
