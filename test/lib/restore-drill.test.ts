import { Match } from 'aws-cdk-lib/assertions';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { DRILL_TARGET_URL } from '../../lib/restore-drill';
import { actionsOf, allowStatementsOf, backupFixture, containerEnvironment, containerNamed, expectFailureAlerts } from '../support/cdk';

const DRILL_FAMILY = /-drill$/;

describe('RestoreDrill', () => {
  test('runs weekly (Mondays 06:00 UTC) on EventBridge Scheduler with retries and the dead-letter queue', () => {
    const { template } = backupFixture();
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 ? * MON *)',
      State: 'ENABLED',
      Target: Match.objectLike({
        EcsParameters: Match.objectLike({
          LaunchType: 'FARGATE',
          TaskDefinitionArn: { Ref: Match.stringLikeRegexp('^BackupDrillTaskDefinition') },
        }),
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupDeadLetterQueue'), 'Arn'] } },
      }),
    });
  });

  test('has two containers: a throwaway PostgreSQL with a health check, and the backup image running verify --latest --restore-into after it is HEALTHY', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('-drill$'),
      Cpu: '1024',
      Memory: '4096',
      EphemeralStorage: { SizeInGiB: 50 },
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({
          Name: 'postgres',
          // Served from the stack's asset repository (private ECR), never a public registry.
          Image: { 'Fn::Sub': Match.stringLikeRegexp('^\\$\\{AWS::AccountId\\}\\.dkr\\.ecr\\..*cdk-hnb659fds-container-assets-') },
          Essential: false,
          Environment: [{ Name: 'POSTGRES_HOST_AUTH_METHOD', Value: 'trust' }],
          Command: Match.arrayWith(['listen_addresses=localhost']),
          HealthCheck: Match.objectLike({ Command: ['CMD-SHELL', 'pg_isready -h localhost -U postgres || exit 1'] }),
        }),
        Match.objectLike({
          Name: 'verify',
          Essential: true,
          Command: ['verify', '--latest', '--dbname', 'app', '--restore-into', DRILL_TARGET_URL],
          DependsOn: [{ ContainerName: 'postgres', Condition: 'HEALTHY' }],
          ReadonlyRootFilesystem: true,
          MountPoints: [{ ContainerPath: '/scratch', SourceVolume: 'scratch', ReadOnly: false }],
          LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
        }),
      ]),
    });
    expect(DRILL_TARGET_URL).toBe('postgres://postgres@localhost:5432/drill');
    const env = containerEnvironment(template, 'verify', DRILL_FAMILY);
    expect(env).toMatchObject({
      BACKUP_PREFIX: 'myapp',
      BACKUP_PROJECT: 'shop',
      METRICS_NAMESPACE: 'PgS3Backup',
      LOG_FORMAT: 'json',
      TMPDIR: '/scratch',
      RESTORE_NO_OWNER: 'true',
      RESTORE_NO_ACL: 'true',
    });
  });

  test('never receives the production database secret', () => {
    const { template } = backupFixture();
    expect(containerNamed(template, 'verify', DRILL_FAMILY).Secrets).toBeUndefined();
    expect(containerNamed(template, 'postgres', DRILL_FAMILY).Secrets).toBeUndefined();
    const execActions = actionsOf(allowStatementsOf(template, /^BackupDrillTaskDefinitionExecutionRole/));
    expect(execActions.filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
  });

  test('reads through its own read-only role (grantRestore), never the writer role', () => {
    const { template } = backupFixture();
    const taskDefs = template.findResources('AWS::ECS::TaskDefinition');
    const roles = Object.values(taskDefs).map((d) => d.Properties.TaskRoleArn['Fn::GetAtt'][0]);
    expect(new Set(roles).size).toBe(3); // backup, drill, restore task
    const statements = allowStatementsOf(template, /^BackupDrillTaskDefinitionTaskRole/);
    expect(actionsOf(statements).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(statements.find((s) => s.Action === 's3:ListBucket')?.Condition).toEqual({ StringLike: { 's3:prefix': ['myapp/app/*'] } });
    for (const a of actionsOf(statements)) expect(a).not.toMatch(/^s3:(Put|Delete|Abort|Bypass)/);
  });

  test('alarms when a drill fails and when no drill succeeded in 7 complete UTC days (wall clock, missing data breaching)', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DrillFailure',
      Namespace: 'PgS3Backup',
      Dimensions: Match.arrayWith([{ Name: 'Database', Value: 'app' }]),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DrillSuccess',
      Statistic: 'Sum',
      Period: 86400,
      EvaluationPeriods: 7,
      DatapointsToAlarm: 7,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      EvaluationWindow: { WallClockWindow: { Timezone: 'UTC' } },
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
    });
  });

  test('a failed or unstartable drill task alerts like a backup task, by its task group pg-s3-drill:<db>', () => {
    const { template } = backupFixture();
    expectFailureAlerts(template, 'drill');
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: {
        EcsParameters: Match.objectLike({ TaskDefinitionArn: { Ref: Match.stringLikeRegexp('Drill') }, Group: 'pg-s3-drill:app' }),
      },
    });
  });

  test('schedule, size and overdue window are configurable, and the drill can be turned off', () => {
    const { template } = backupFixture({
      drill: {
        schedule: scheduler.ScheduleExpression.expression('cron(0 5 ? * SUN *)'),
        memoryLimitMiB: 8192,
        ephemeralStorageGiB: 100,
        overdueAfterDays: 3,
      },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 5 ? * SUN *)' });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('-drill$'),
      Memory: '8192',
      EphemeralStorage: { SizeInGiB: 100 },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'DrillSuccess', EvaluationPeriods: 3 });

    const off = backupFixture({ drill: { enabled: false } }).template;
    off.resourceCountIs('AWS::Scheduler::Schedule', 1);
    off.resourceCountIs('AWS::ECS::TaskDefinition', 2); // backup and restore task
    off.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: Match.stringLikeRegexp('^Drill') }, 0);
  });

  test('rejects an overdue window CloudWatch cannot evaluate and storage Fargate cannot give, together', () => {
    expect(() => backupFixture({ drill: { overdueAfterDays: 8, ephemeralStorageGiB: 500 } })).toThrow(
      /2 problems[\s\S]*ephemeralStorageGiB must be an integer 21-200, got 500[\s\S]*overdueAfterDays must be an integer 1-7/,
    );
  });
});
