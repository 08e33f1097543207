import { Duration, Stack } from 'aws-cdk-lib';
import { Annotations } from 'aws-cdk-lib/assertions';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DatabaseConnection, PostgresBackup, PostgresBackupProps, RDS_CA_BUNDLE_PATH } from '../../lib';
import { EXIT_CODE_WORDS } from '../../task/src/contract';
import { eventDetailPaths, inputPathField, patternPaths } from '../support/aws/event-schema';
import { FORBIDDEN_WRITER_ACTIONS, WRITER_OBJECT_ACTIONS } from '../../lib/private/permissions';
import {
  actionsOf,
  allowStatementsOf,
  backupFixture,
  containerEnvironment,
  containerNamed,
  expectFailureAlerts,
  kmsBucketFixture,
  SECRET_ARN,
  templateJsonWithoutPlaceholder,
  TEST_IMAGE,
  testStack,
} from '../support/cdk';

const BACKUP_FAMILY = /-backup$/;

describe('PostgresBackup schedule', () => {
  test('runs daily at 04:00 UTC on EventBridge Scheduler, targeting the backup task on Fargate in private subnets', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 4 * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('BackupCluster'), 'Arn'] },
        EcsParameters: Match.objectLike({
          LaunchType: 'FARGATE',
          TaskDefinitionArn: { Ref: Match.stringLikeRegexp('^BackupTaskDefinition') },
          NetworkConfiguration: {
            AwsvpcConfiguration: {
              AssignPublicIp: 'DISABLED',
              Subnets: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
              SecurityGroups: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupSecurityGroup'), 'GroupId'] }],
            },
          },
        }),
      }),
    });
  });

  test('retries RunTask twice within an hour and dead-letters to an encrypted, TLS-only queue with an alarm', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 4 * * ? *)',
      Target: Match.objectLike({
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupDeadLetterQueue'), 'Arn'] } },
      }),
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
    });
  });

  test('takes a custom schedule and can be created disabled', () => {
    const { template } = backupFixture({ schedule: scheduler.ScheduleExpression.expression('cron(15 2 * * ? *)'), scheduleEnabled: false });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(15 2 * * ? *)', State: 'DISABLED' });
  });
});

describe('PostgresBackup task', () => {
  test('runs `backup` with 1 vCPU and 2 GiB, an init process, a read-only root, a 120 s stop timeout and JSON logs with retention', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('-backup$'),
      Cpu: '1024',
      Memory: '2048',
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'backup',
          Command: ['backup'],
          Essential: true,
          StopTimeout: 120,
          ReadonlyRootFilesystem: true,
          LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
          MountPoints: [{ ContainerPath: '/scratch', SourceVolume: 'scratch', ReadOnly: false }],
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
        }),
      ],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  test.each([
    ['require (the default): no CA bundle, as libpq then only encrypts', {}, undefined],
    ['verify-full: the RDS CA bundle in the image', { sslMode: 'verify-full' }, RDS_CA_BUNDLE_PATH],
    [
      'verify-ca with a bundle of its own',
      { sslMode: 'verify-ca', sslRootCert: '/etc/ssl/certs/corp-ca.pem' },
      '/etc/ssl/certs/corp-ca.pem',
    ],
  ] as const)('TLS %s', (_, tls, rootCert) => {
    for (const connection of [
      (s: secretsmanager.ISecret) => DatabaseConnection.fromRdsSecret(s, tls),
      (s: secretsmanager.ISecret) => DatabaseConnection.fromUrlSecret(s, tls),
    ]) {
      const { stack, vpc } = testStack();
      new PostgresBackup(stack, 'Backup', {
        vpc,
        connection: connection(secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', SECRET_ARN)),
        databaseName: 'app',
        image: TEST_IMAGE,
        drill: { enabled: false },
      });
      const byName = containerEnvironment(Template.fromStack(stack), 'backup');
      expect({ mode: byName.PGSSLMODE, rootCert: byName.PGSSLROOTCERT }).toEqual({
        mode: 'sslMode' in tls ? tls.sslMode : 'require',
        rootCert,
      });
    }
  });

  test('passes the task contract: bucket, prefix, project, namespace, JSON logs, memory limit, globals', () => {
    const { template } = backupFixture({ compress: 'zstd:3' });
    const byName = containerEnvironment(template, 'backup');
    expect(byName).toEqual({
      PGDATABASE: 'app',
      PGSSLMODE: 'require',
      BACKUP_BUCKET: { Ref: expect.stringMatching(/^BackupBucket/) },
      BACKUP_PREFIX: 'myapp',
      BACKUP_PROJECT: 'shop',
      METRICS_NAMESPACE: 'PgS3Backup',
      LOG_FORMAT: 'json',
      TMPDIR: '/scratch',
      BACKUP_MEMORY_LIMIT_MIB: '1792',
      BACKUP_GLOBALS: 'true',
      BACKUP_COMPRESS: 'zstd:3',
    });
  });

  test('a selection reaches the backup container as one CLI argument per pattern, commas and spaces intact', () => {
    const { template } = backupFixture({
      selection: { excludeTableData: ['public.audit_log', '"Event, Log"'], excludeSchemas: ['scratch'] },
    });
    expect(containerNamed(template, 'backup').Command).toEqual([
      'backup',
      '--exclude-schema=scratch',
      '--exclude-table-data=public.audit_log',
      '--exclude-table-data="Event, Log"',
    ]);
    expect(containerNamed(backupFixture().template, 'backup').Command).toEqual(['backup']);
    expect(() => backupFixture({ selection: { tables: ['public.orders'], schemas: ['public'], excludeTables: [''] } })).toThrow(
      /Invalid PostgresBackup configuration \(2 problems\):\n- selection\.excludeTables has an empty pattern.*\n- selection\.tables cannot be combined with selection\.schemas/,
    );
  });

  test('CPU, memory and stop timeout are configurable', () => {
    const { template } = backupFixture({ cpu: 2048, memoryLimitMiB: 4096, stopTimeout: Duration.seconds(60) });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '2048',
      Memory: '4096',
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'backup',
          StopTimeout: 60,
          Environment: Match.arrayWith([{ Name: 'BACKUP_MEMORY_LIMIT_MIB', Value: '3840' }]),
        }),
      ],
    });
  });
});

describe('PostgresBackup database access', () => {
  test('an RDS-format secret is injected field by field as ECS secrets; the password is never plain environment', () => {
    const { template } = backupFixture();
    const container = containerNamed(template, 'backup', BACKUP_FAMILY);
    expect(container.Secrets).toEqual([
      { Name: 'PGHOST', ValueFrom: `${SECRET_ARN}:host::` },
      { Name: 'PGPORT', ValueFrom: `${SECRET_ARN}:port::` },
      { Name: 'PGUSER', ValueFrom: `${SECRET_ARN}:username::` },
      { Name: 'PGPASSWORD', ValueFrom: `${SECRET_ARN}:password::` },
    ]);
    const envNames = (container.Environment as Array<{ Name: string }>).map((e) => e.Name);
    expect(envNames).not.toContain('PGPASSWORD');
    expect(envNames).not.toContain('DATABASE_URL');
  });

  test('an RDS-managed secret with only username and password takes the host from configuration', () => {
    const { stack, vpc } = testStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Managed', SECRET_ARN);
    new PostgresBackup(stack, 'Backup', {
      vpc,
      connection: DatabaseConnection.fromRdsSecret(secret, { host: 'db.abc.eu-west-1.rds.amazonaws.com', port: 5433 }),
      databaseName: 'app',
      image: TEST_IMAGE,
      drill: { enabled: false },
    });
    const container = containerNamed(Template.fromStack(stack), 'backup');
    expect((container.Secrets as Array<{ Name: string }>).map((s) => s.Name)).toEqual(['PGUSER', 'PGPASSWORD']);
    expect(container.Environment).toEqual(
      expect.arrayContaining([
        { Name: 'PGHOST', Value: 'db.abc.eu-west-1.rds.amazonaws.com' },
        { Name: 'PGPORT', Value: '5433' },
      ]),
    );
  });

  test('a URL secret becomes DATABASE_URL (whole secret or one field), without PGDATABASE', () => {
    const { stack, vpc } = testStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'UrlSecret', SECRET_ARN);
    new PostgresBackup(stack, 'Whole', {
      vpc,
      connection: DatabaseConnection.fromUrlSecret(secret),
      databaseName: 'd8f3k2',
      image: TEST_IMAGE,
      drill: { enabled: false },
    });
    new PostgresBackup(stack, 'Field', {
      vpc,
      connection: DatabaseConnection.fromUrlSecret(secret, { field: 'url' }),
      databaseName: 'other',
      image: TEST_IMAGE,
      drill: { enabled: false },
    });
    const template = Template.fromStack(stack);
    const whole = containerNamed(template, 'backup', /Whole/);
    expect(whole.Secrets).toEqual([{ Name: 'DATABASE_URL', ValueFrom: SECRET_ARN }]);
    expect((whole.Environment as Array<{ Name: string }>).map((e) => e.Name)).not.toContain('PGDATABASE');
    expect(containerNamed(template, 'backup', /Field/).Secrets).toEqual([{ Name: 'DATABASE_URL', ValueFrom: `${SECRET_ARN}:url::` }]);
  });

  test('no secret value, password or credential-bearing URL appears anywhere in the template (besides the restore target placeholder)', () => {
    const { template } = backupFixture();
    const json = templateJsonWithoutPlaceholder(template);
    expect(json).not.toMatch(/postgres(ql)?:\/\/[^"@/]*:[^"@/]*@/);
    expect(json).not.toMatch(/SecretString|resolve:secretsmanager/);
    expect(json).not.toMatch(/"Name":"PGPASSWORD","Value"/);
  });

  test('the execution role pulls the image, reads the one secret and writes the log group - nothing else', () => {
    const { template } = backupFixture();
    const statements = allowStatementsOf(template, /^BackupTaskDefinitionExecutionRole/);
    const actions = actionsOf(statements);
    for (const a of actions)
      expect(a).toMatch(
        /^(ecr:(GetAuthorizationToken|BatchCheckLayerAvailability|GetDownloadUrlForLayer|BatchGetImage)|logs:(CreateLogStream|PutLogEvents)|secretsmanager:(GetSecretValue|DescribeSecret))$/,
      );
    const secretStatements = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('secretsmanager:')));
    expect(secretStatements.map((s) => s.Resource)).toEqual([SECRET_ARN]);
    expect(actions).not.toContain('s3:PutObject');
  });

  test('opens the database security group to the task on the database port', () => {
    const { stack, vpc } = testStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', SECRET_ARN);
    const dbSg = ec2.SecurityGroup.fromSecurityGroupId(stack, 'DbSg', 'sg-0123456789abcdef0');
    new PostgresBackup(stack, 'Backup', {
      vpc,
      connection: DatabaseConnection.fromRdsSecret(secret),
      databaseName: 'app',
      databaseSecurityGroup: dbSg,
      databasePort: 6432,
      image: TEST_IMAGE,
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0123456789abcdef0',
      IpProtocol: 'tcp',
      FromPort: 6432,
      ToPort: 6432,
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupSecurityGroup'), 'GroupId'] },
    });
    // The task's own group accepts nothing.
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Backup of app'),
      SecurityGroupIngress: Match.absent(),
    });
  });
});

describe('PostgresBackup least privilege', () => {
  test('the task role may list its folder and create objects under it: exactly PutObject, PutObjectTagging, AbortMultipartUpload', () => {
    const { template } = backupFixture();
    const statements = allowStatementsOf(template, /^BackupTaskDefinitionTaskRole/);
    expect(statements).toEqual([
      {
        Action: 's3:ListBucket',
        Effect: 'Allow',
        Condition: { StringLike: { 's3:prefix': ['myapp/app/*'] } },
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^BackupBucket/), 'Arn'] },
      },
      {
        Action: [...WRITER_OBJECT_ACTIONS],
        Effect: 'Allow',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^BackupBucket/), 'Arn'] }, '/myapp/app/*']] },
      },
    ]);
  });

  test('the task role has no GetObject, Delete*, retention, legal hold, bypass or bucket-configuration action', () => {
    const { template } = backupFixture();
    const actions = actionsOf(allowStatementsOf(template, /^BackupTaskDefinitionTaskRole/));
    for (const forbidden of FORBIDDEN_WRITER_ACTIONS) expect(actions).not.toContain(forbidden);
    for (const a of actions) {
      expect(a).not.toMatch(
        /^s3:(Get|Delete|PutBucket|PutLifecycle|PutEncryption|PutObjectRetention|PutObjectLegalHold|Bypass|PutObjectAcl|PutReplication)/,
      );
      expect(a).not.toContain('*');
    }
  });

  test('no role in the stack is allowed to delete backups', () => {
    const { template } = backupFixture();
    const everyAllow = actionsOf(allowStatementsOf(template, /.*/));
    expect(everyAllow.filter((a) => /^s3:(Delete|\*)|^s3:.*Bypass/.test(a))).toEqual([]);
  });

  test('with a KMS-encrypted bucket the writer gets GenerateDataKey and Decrypt on that key only, through S3 only', () => {
    const { template } = kmsBucketFixture();
    const statements = allowStatementsOf(template, /^BackupTaskDefinitionTaskRole/);
    expect(statements).toContainEqual({
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Key/), 'Arn'] },
    });
    // A bucket passed in is used as is: the construct creates no bucket of its own.
    template.resourceCountIs('AWS::S3::Bucket', 1);
  });

  test('grantRestore gives list and read on the folder only', () => {
    const { stack, backup } = backupFixture({ drill: { enabled: false } }, false);
    const role = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    backup.grantRestore(role);
    const statements = allowStatementsOf(Template.fromStack(stack), /^Operator/);
    expect(actionsOf(statements).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(statements[0].Condition).toEqual({ StringLike: { 's3:prefix': ['myapp/app/*'] } });
  });
});

describe('PostgresBackup policies it cannot write', () => {
  /** A backup of `app` in a new stack, with what `extra` builds in that stack. */
  const backupWith = (extra: (stack: Stack) => Partial<PostgresBackupProps>): Stack => {
    const { stack, vpc } = testStack();
    new PostgresBackup(stack, 'Backup', {
      vpc,
      connection: DatabaseConnection.fromRdsSecret(secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', SECRET_ARN)),
      databaseName: 'app',
      image: TEST_IMAGE,
      ...extra(stack),
    });
    return stack;
  };

  test('an imported bucket: synth warns that nothing in its bucket policy holds the writer to create-only writes', () => {
    const stack = backupWith((s) => ({ bucket: s3.Bucket.fromBucketName(s, 'Imported', 'existing-backups') }));
    Annotations.fromStack(stack).hasWarning('/Test/Backup', Match.stringLikeRegexp('is imported, so its bucket policy cannot be extended'));
    Template.fromStack(stack).resourceCountIs('AWS::S3::BucketPolicy', 0);
  });

  test('an imported topic: synth warns that its policy must let CloudWatch publish', () => {
    const stack = backupWith((s) => ({ alarmTopic: sns.Topic.fromTopicArn(s, 'Topic', 'arn:aws:sns:eu-west-1:111122223333:alerts') }));
    Annotations.fromStack(stack).hasWarning('/Test/Topic', Match.stringLikeRegexp('must allow cloudwatch.amazonaws.com to sns:Publish'));
  });

  test('a topic passed in from the same stack gets the CloudWatch publish statement, scoped to this account and its alarms', () => {
    const stack = backupWith((s) => ({ alarmTopic: new sns.Topic(s, 'Mine') }));
    Template.fromStack(stack).hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'AllowCloudWatchAlarmsToPublish',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } }, ArnLike: { 'aws:SourceArn': Match.anyValue() } },
          }),
        ]),
      },
    });
  });
});

describe('PostgresBackup alerts', () => {
  test('a task that stops with a non-zero exit code or fails to start notifies the topic', () => {
    const { template } = backupFixture({ drill: { enabled: false } });
    expectFailureAlerts(template, 'backup');
  });

  test('the schedule and BackupNowCommand start the backup in task group pg-s3-backup:<db>, which the alerts watch', () => {
    const { template, backup } = backupFixture();
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: {
        EcsParameters: Match.objectLike({
          TaskDefinitionArn: { Ref: Match.stringLikeRegexp('BackupTaskDefinition') },
          Group: 'pg-s3-backup:app',
        }),
      },
    });
    expect(backup.backupNowCommand).toContain(`--task-definition ${backup.taskDefinition.family} --group pg-s3-backup:app `);
  });

  test('a database name with characters beyond letters, digits, _ . - is named in its task group with _ in their place', () => {
    const { template } = backupFixture({ databaseName: 'sales db/2026' });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: { EcsParameters: Match.objectLike({ Group: 'pg-s3-backup:sales_db_2026' }) },
    });
  });

  test('one set of 11 failure rules per cluster, however many databases share it; a second topic on that cluster is refused', () => {
    // GIVEN two databases on one cluster and one topic
    const { stack, vpc } = testStack();
    const cluster = new ecs.Cluster(stack, 'Shared', { vpc });
    const topic = new sns.Topic(stack, 'Alerts');
    const connection = DatabaseConnection.fromRdsSecret(secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', SECRET_ARN));
    for (const db of ['one', 'two']) {
      new PostgresBackup(stack, `Backup${db}`, { vpc, connection, databaseName: db, image: TEST_IMAGE, cluster, alarmTopic: topic });
    }
    // THEN one rule per exit code, one for any other code, the drill's and the failed-to-start one
    Template.fromStack(stack).resourceCountIs('AWS::Events::Rule', 11);
    // WHEN a third names another topic for the same cluster
    expect(
      () =>
        new PostgresBackup(stack, 'BackupThree', {
          vpc,
          connection,
          databaseName: 'three',
          image: TEST_IMAGE,
          cluster,
          alarmTopic: new sns.Topic(stack, 'Other'),
        }),
    ).toThrow(/already alert topic .*Alerts, not .*Other.*same alarmTopic/);
  });

  /**
   * What SNS receives when the rule fires, built as EventBridge builds it: in the JSON
   * InputTemplate, a placeholder that stands for a whole value becomes that value as JSON, and
   * one inside a string becomes its text.
   */
  function alertFor(template: Template, rule: RegExp, event: Record<string, any>): any {
    const [, found] = Object.entries(template.findResources('AWS::Events::Rule')).find(([id]) => rule.test(id))!;
    const { InputPathsMap: paths, InputTemplate: text } = found.Properties.Targets[0].InputTransformer;
    const valueAt = (name: string) =>
      (paths[name] as string)
        .replace(/^\$\./, '')
        .split(/\.|\[(\d+)\]/)
        .filter((k) => k !== undefined && k !== '')
        .reduce((v: any, k: string) => v?.[k], event);
    const message = (text as string)
      .replace(/([:[,])<([\w-]+)>(?=[,\]}])/g, (_, before: string, name: string) => before + JSON.stringify(valueAt(name)))
      .replace(/<([\w-]+)>/g, (_, name: string) => JSON.stringify(String(valueAt(name))).slice(1, -1));
    return JSON.parse(message);
  }

  test('failure alerts are AWS Chatbot custom notifications that name the database (task group) and the task, and state the exit code and its word', () => {
    const { template } = backupFixture({ drill: { enabled: false } });
    const event = {
      id: 'e0a1b2c3-0000-4000-8000-000000000000',
      detail: {
        group: 'pg-s3-backup:app',
        taskArn: 'arn:aws:ecs:eu-west-1:111122223333:task/cluster/0123abcd',
        stoppedReason: 'Essential container in task exited',
        containers: [{ name: 'backup', exitCode: 3 }],
      },
    };
    const failed = alertFor(template, /TaskFailureRulesFailed3/, event);
    expect(failed).toMatchObject({ version: '1.0', source: 'custom', id: event.id, content: { textType: 'client-markdown' } });
    expect(failed.content.title).toBe('pg-s3-backup:app FAILED (exit 3, database)');
    expect(failed.content.description).toBe(
      'pg-s3-backup:app FAILED (exit 3, database): task arn:aws:ecs:eu-west-1:111122223333:task/cluster/0123abcd stopped (Essential container in task exited). ' +
        'Exit 3 means: database or PostgreSQL client failure (connection, version check, pg_dump, pg_restore).',
    );
    expect(failed.content.nextSteps[0]).toMatch(/^Read the task log: stack output LogGroupName, Logs Insights query "recent runs"/);
    expect(failed.metadata).toMatchObject({ eventType: 'TaskFailed', relatedResources: [event.detail.taskArn] });
    const killed = alertFor(template, /TaskFailureRulesFailed137/, {
      ...event,
      detail: { ...event.detail, containers: [{ name: 'backup', exitCode: 137 }] },
    });
    expect(killed.content.title).toBe('pg-s3-backup:app FAILED (exit 137, killed)');
    const other = alertFor(template, /TaskFailureRulesFailedOther/, {
      ...event,
      detail: { ...event.detail, containers: [{ name: 'backup', exitCode: 6 }] },
    });
    expect(other.content.title).toBe('pg-s3-backup:app FAILED (exit 6)');

    const notStarted = alertFor(template, /TaskFailureRulesFailedToStart/, {
      ...event,
      detail: { ...event.detail, stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)' },
    });
    expect(notStarted).toMatchObject({ version: '1.0', source: 'custom', content: { title: 'pg-s3-backup:app did not start' } });
    expect(notStarted.content.description).toMatch(/^pg-s3-backup:app did not start: task .* could not start \(CannotPullContainerError/);
  });

  test("every field the rules match or copy is in the ECS Task State Change event (EventBridge's schema, @aws-cdk/aws-service-spec)", () => {
    const { template } = backupFixture();
    const fields = eventDetailPaths('aws.ecs@ECSTaskStateChange');
    const rules = Object.values(template.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(11);
    const used = rules.flatMap((r) => [
      ...patternPaths(r.Properties.EventPattern.detail),
      ...Object.values(r.Properties.Targets[0].InputTransformer.InputPathsMap as Record<string, string>)
        .map(inputPathField)
        .filter((f) => f.startsWith('detail.')),
    ]);
    expect(used).toEqual(expect.arrayContaining(['detail.group', 'detail.clusterArn', 'detail.containers.exitCode']));
    expect([...new Set(used)].filter((f) => !fields.has(f))).toEqual([]);
  });

  test("the drill's alert, whose task has a sidecar, does not name a container's exit code it cannot tell apart", () => {
    const { template } = backupFixture();
    const [, drillRule] = Object.entries(template.findResources('AWS::Events::Rule')).find(([id]) =>
      /TaskFailureRulesDrillFailed/.test(id),
    )!;
    const transformer = drillRule.Properties.Targets[0].InputTransformer;
    expect(JSON.stringify(transformer.InputPathsMap)).not.toContain('containers');
    expect(transformer.InputTemplate).toContain('stopped with a non-zero exit code');
    // Nor does a rule that states a code (and its word) ever match a drill task.
    const stating = Object.entries(template.findResources('AWS::Events::Rule'))
      .filter(([id, r]) => r.Properties.EventPattern.detail.containers && !/DrillFailed/.test(id))
      .map(([, r]) => r);
    expect(stating).toHaveLength(EXIT_CODE_WORDS.length + 1);
    for (const r of stating) expect(r.Properties.EventPattern.detail.group).not.toContainEqual({ prefix: 'pg-s3-drill:' });
  });

  test('the missed-backup alarm says which database and how many hours since the last success', () => {
    const { template } = backupFixture({ missedBackupAlarmHours: 30 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'BackupSuccess',
      AlarmDescription: Match.stringLikeRegexp('^Backup of shop/app: no successful backup recorded in the last 30 hours'),
    });
  });

  test('missed-backup alarm: no BackupSuccess in 26 hourly periods, missing data breaching, on the task dimensions', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'PgS3Backup',
      MetricName: 'BackupSuccess',
      Dimensions: Match.arrayWith([
        { Name: 'Database', Value: 'app' },
        { Name: 'Project', Value: 'shop' },
      ]),
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
      OKActions: [{ Ref: Match.stringLikeRegexp('AlarmTopic') }],
    });
  });

  test('the topic enforces TLS, is KMS-encrypted with a key CloudWatch and EventBridge may use, and subscribes the e-mail', () => {
    const { template } = backupFixture({ alarmEmail: 'ops@example.com' });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
          Match.objectLike({ Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
        ]),
      },
    });
  });

  test('metric methods name the namespace, metric and dimensions the task emits', () => {
    const { backup } = backupFixture({ drill: { enabled: false } });
    const m = backup.metricBackupBytes();
    expect(m.namespace).toBe('PgS3Backup');
    expect(m.metricName).toBe('BackupBytes');
    expect(m.dimensions).toEqual({ Project: 'shop', Database: 'app' });
    expect(backup.metricBackupSuccess().statistic).toBe('Sum');
    expect(backup.metricDrillFailure().metricName).toBe('DrillFailure');
  });
});

describe('PostgresBackup validation', () => {
  test('reports every invalid prop at once, naming the setting, the value and the fix', () => {
    const { stack, vpc } = testStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', SECRET_ARN);
    let message = '';
    try {
      new PostgresBackup(stack, 'Backup', {
        vpc,
        connection: DatabaseConnection.fromRdsSecret(secret),
        databaseName: '',
        prefix: 'a//b',
        cpu: 1000,
        stopTimeout: Duration.seconds(300),
        missedBackupAlarmHours: 200,
        image: TEST_IMAGE,
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/5 problems/);
    expect(message).toMatch(/databaseName must be a PostgreSQL database name.*got ""/);
    // Named as the construct's prop, not as the task's variable (BACKUP_PREFIX).
    expect(message).toMatch(/^- prefix 'a\/\/b' has an empty/m);
    expect(message).not.toMatch(/BACKUP_PREFIX/);
    expect(message).toMatch(/cpu must be one of 256, 512, 1024.*got 1000/);
    expect(message).toMatch(/stopTimeout must be 2-120 seconds.*got 300 s/);
    expect(message).toMatch(/missedBackupAlarmHours must be an integer 1-168.*got 200/);
  });
});

describe('PostgresBackup cdk-nag', () => {
  test('a standalone construct (own bucket, topic, cluster, queue, drill) has no unacknowledged AwsSolutions finding', () => {
    const { stack } = backupFixture({ alarmEmail: 'ops@example.com' });
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  test('an unexpected wildcard is still reported: acknowledgements name exact resources', () => {
    const { stack, backup } = backupFixture({ drill: { enabled: false } }, false);
    backup.taskDefinition.addToTaskRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [backup.bucket.arnForObjects('*')] }),
    );
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<BackupBucket\w+\.Arn>\/\*\]$/),
    ]);
  });
});
