import { App, Stack } from 'aws-cdk-lib';
import { appTemplate } from '../support/aws/template';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../bin/app';
import { DatabaseConnection, loadProjectConfig, parseProjectConfig, PostgresBackup, RESTORE_TARGET_PLACEHOLDER } from '../../lib';
import { restoreConfig } from '../../task/src/config/readers';
import {
  actionsOf,
  allowStatementsOf,
  backupFixture,
  containerEnvironment,
  containerNamed,
  exampleContext,
  expectFailureAlerts,
  kmsBucketFixture,
  problemsOf,
  SECRET_ARN,
  TEST_IMAGE,
  testStack,
} from '../support/cdk';

const RESTORE_FAMILY = /-restore$/;
const RESTORE_COMMAND = ['restore', '--latest', '--dbname', 'app', '--no-owner', '--no-acl'];

describe('RestoreTask definition', () => {
  test('runs `restore --latest --dbname <db> --no-owner --no-acl` in the backup image: 1 vCPU, 2 GiB, 50 GiB task storage, init process, read-only root, 120 s stop timeout', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('-restore$'),
      Cpu: '1024',
      Memory: '2048',
      EphemeralStorage: { SizeInGiB: 50 },
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      Volumes: [{ Name: 'scratch' }],
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'restore',
          Image: 'example.com/pg-s3-backup:test',
          Command: RESTORE_COMMAND,
          Essential: true,
          StopTimeout: 120,
          ReadonlyRootFilesystem: true,
          LinuxParameters: Match.objectLike({ InitProcessEnabled: true }),
          MountPoints: [{ ContainerPath: '/scratch', SourceVolume: 'scratch', ReadOnly: false }],
          LogConfiguration: {
            LogDriver: 'awslogs',
            Options: Match.objectLike({
              'awslogs-group': { Ref: Match.stringLikeRegexp('^BackupLogGroup') },
              'awslogs-stream-prefix': 'restore-app',
            }),
          },
        }),
      ],
    });
    expect(containerNamed(template, 'restore').Image).toEqual(containerNamed(template, 'backup').Image);
  });

  test('passes the storage contract, JSON logs and TMPDIR on the scratch volume, and nothing else in plain environment', () => {
    const { template } = backupFixture();
    const env = containerEnvironment(template, 'restore', RESTORE_FAMILY);
    expect(env).toEqual({
      BACKUP_BUCKET: { Ref: expect.stringMatching(/^BackupBucket/) },
      BACKUP_PREFIX: 'myapp',
      BACKUP_PROJECT: 'shop',
      METRICS_NAMESPACE: 'PgS3Backup',
      LOG_FORMAT: 'json',
      TMPDIR: '/scratch',
    });
  });

  test('is on demand: no schedule targets it', () => {
    const { template } = backupFixture();
    template.resourceCountIs('AWS::Scheduler::Schedule', 2); // backup and drill
    const targets = Object.values(template.findResources('AWS::Scheduler::Schedule')).map(
      (s) => s.Properties.Target.EcsParameters.TaskDefinitionArn.Ref as string,
    );
    expect(targets.filter((t) => t.startsWith('BackupRestore'))).toEqual([]);
  });

  test('CPU, memory and task storage are configurable', () => {
    const { template } = backupFixture({ restoreTask: { cpu: 2048, memoryLimitMiB: 8192, ephemeralStorageGiB: 200 } });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('-restore$'),
      Cpu: '2048',
      Memory: '8192',
      EphemeralStorage: { SizeInGiB: 200 },
    });
  });
});

describe('RestoreTask target', () => {
  test('RESTORE_TARGET_URL is injected by ECS from the secret the construct creates (Secrets, never Environment)', () => {
    const { template, backup } = backupFixture();
    const container = containerNamed(template, 'restore', RESTORE_FAMILY);
    expect(container.Secrets).toEqual([
      { Name: 'RESTORE_TARGET_URL', ValueFrom: { Ref: expect.stringMatching(/^BackupRestoreRestoreTargetSecret/) } },
    ]);
    const envNames = (container.Environment as Array<{ Name: string }>).map((e) => e.Name);
    for (const name of ['RESTORE_TARGET_URL', 'PGPASSWORD', 'DATABASE_URL', 'PGHOST', 'PGUSER']) expect(envNames).not.toContain(name);
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    expect(Stack.of(backup).resolve(backup.restoreTask?.targetSecret.secretArn)).toEqual({ Ref: container.Secrets[0].ValueFrom.Ref });
  });

  test('the secret starts as a placeholder that is not a URL and says what to put there', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      SecretString: RESTORE_TARGET_PLACEHOLDER,
      Description: Match.stringLikeRegexp('^Restore of shop/app: postgres:// URL of the database to restore into'),
    });
    expect(RESTORE_TARGET_PLACEHOLDER).toMatch(/^REPLACE ME: postgres:\/\/user:password@host:5432\/dbname\?sslmode=require /);
    expect(() => new URL(RESTORE_TARGET_PLACEHOLDER)).toThrow();
  });

  test('the CLI refuses the placeholder as a configuration error (exit 2) without echoing it', () => {
    // GIVEN the container's environment before an operator has set the secret
    const env = {
      RESTORE_TARGET_URL: RESTORE_TARGET_PLACEHOLDER,
      BACKUP_BUCKET: 'my-backups',
      BACKUP_PREFIX: 'myapp',
      LOG_FORMAT: 'json',
      AWS_REGION: 'eu-west-1',
    };
    // WHEN the task's command is parsed
    let error: unknown;
    try {
      restoreConfig(RESTORE_COMMAND.slice(1), env, false);
    } catch (err) {
      error = err;
    }
    // THEN it stops at configuration, before anything connects, and the value is not shown
    expect(error).toMatchObject({
      name: 'ConfigError',
      exitCode: 2,
      problems: [expect.stringMatching(/^RESTORE_TARGET_URL is not a valid URL \(value not shown/)],
    });
    expect((error as Error).message).not.toContain('REPLACE ME');
  });

  test('the execution role may read the target secret, and no other secret', () => {
    const { template } = backupFixture();
    const statements = allowStatementsOf(template, /^BackupRestoreTaskDefinitionExecutionRole/);
    for (const a of actionsOf(statements))
      expect(a).toMatch(
        /^(ecr:(GetAuthorizationToken|BatchCheckLayerAvailability|GetDownloadUrlForLayer|BatchGetImage)|logs:(CreateLogStream|PutLogEvents)|secretsmanager:(GetSecretValue|DescribeSecret))$/,
      );
    const secretStatements = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('secretsmanager:')));
    expect(secretStatements).toEqual([
      expect.objectContaining({
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: { Ref: expect.stringMatching(/^BackupRestoreRestoreTargetSecret/) },
      }),
    ]);
    expect(JSON.stringify(statements)).not.toContain(SECRET_ARN);
    expect(actionsOf(statements)).toEqual(expect.arrayContaining(['logs:CreateLogStream', 'logs:PutLogEvents']));
  });
});

describe('RestoreTask least privilege', () => {
  test('its own task role lists and reads its folder only: no s3:Put*, s3:Delete*, AbortMultipartUpload or BypassGovernanceRetention', () => {
    const { template } = backupFixture();
    const taskRoles = (family: RegExp) =>
      Object.values(template.findResources('AWS::ECS::TaskDefinition'))
        .filter((d) => family.test(String(d.Properties.Family)))
        .map((d) => d.Properties.TaskRoleArn['Fn::GetAtt'][0] as string);
    expect(taskRoles(RESTORE_FAMILY)).toEqual([expect.stringMatching(/^BackupRestoreTaskDefinitionTaskRole/)]);
    expect(taskRoles(RESTORE_FAMILY)).not.toEqual(taskRoles(/-backup$/));

    const statements = allowStatementsOf(template, /^BackupRestoreTaskDefinitionTaskRole/);
    const actions = actionsOf(statements);
    expect([...actions].sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(statements.find((s) => s.Action === 's3:ListBucket')?.Condition).toEqual({ StringLike: { 's3:prefix': ['myapp/app/*'] } });
    expect(statements.find((s) => s.Action !== 's3:ListBucket')?.Resource).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^BackupBucket/), 'Arn'] }, '/myapp/app/*']],
    });
    for (const a of actions) {
      expect(a).not.toMatch(/^s3:(Put|Delete)/);
      expect(a).not.toMatch(/^s3:(AbortMultipartUpload|BypassGovernanceRetention)$/);
      expect(a).not.toContain('*');
    }
  });

  test('with a KMS-encrypted bucket it may only decrypt, through S3 only', () => {
    const { template } = kmsBucketFixture();
    const statements = allowStatementsOf(template, /^BackupRestoreTaskDefinitionTaskRole/);
    expect(statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('kms:')))).toEqual([
      {
        Action: 'kms:Decrypt',
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Key/), 'Arn'] },
      },
    ]);
  });

  test('has its own security group with no inbound rule; the production database is not opened to it', () => {
    const { stack, vpc } = testStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', SECRET_ARN);
    const dbSg = ec2.SecurityGroup.fromSecurityGroupId(stack, 'DbSg', 'sg-0123456789abcdef0');
    const backup = new PostgresBackup(stack, 'Backup', {
      vpc,
      connection: DatabaseConnection.fromRdsSecret(secret),
      databaseName: 'app',
      project: 'shop',
      databaseSecurityGroup: dbSg,
      image: TEST_IMAGE,
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Restore of shop/app: outbound'),
      SecurityGroupIngress: Match.absent(),
      SecurityGroupEgress: [Match.objectLike({ CidrIp: '0.0.0.0/0' })],
    });
    expect(backup.restoreTask?.securityGroup).not.toBe(backup.securityGroup);
    const ingressSources = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map(
      (r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0] as string,
    );
    expect(ingressSources).toEqual([expect.stringMatching(/^BackupSecurityGroup/)]);
  });
});

describe('RestoreTask alerts and outputs', () => {
  test('a failed or unstartable restore alerts on the topic by its task group pg-s3-restore:<db>', () => {
    expectFailureAlerts(backupFixture().template, 'restore');
  });

  test('outputs RestoreNowCommand (run-task on the restore family, in its task group, and security group), RestoreTargetSecretArn and RestoreSecurityGroupId', () => {
    const { template, backup } = backupFixture();
    const outputs = template.findOutputs('*');
    const byPrefix = (prefix: string) =>
      Object.entries(outputs)
        .filter(([id]) => id.startsWith(prefix))
        .map(([, o]) => o);
    const [command] = byPrefix('BackupRestoreNowCommand');
    const text = JSON.stringify(command.Value);
    expect(text).toMatch(/^\{"Fn::Join":\["",\["aws ecs run-task --cluster ",/);
    expect(text).toMatch(
      /--task-definition [\w-]+-restore --group pg-s3-restore:app --launch-type FARGATE --network-configuration \\"awsvpcConfiguration=\{subnets=\[subnet-0123456789abcdef0,subnet-0fedcba9876543210\],securityGroups=\[/,
    );
    expect(text).toMatch(/"Fn::GetAtt":\["BackupRestoreSecurityGroup\w+","GroupId"\]/);
    expect(text).not.toMatch(/BackupSecurityGroup\w+","GroupId"/);
    expect(byPrefix('BackupRestoreTargetSecretArn')).toEqual([
      expect.objectContaining({ Value: { Ref: expect.stringMatching(/^BackupRestoreRestoreTargetSecret/) } }),
    ]);
    expect(byPrefix('BackupRestoreSecurityGroupId')).toEqual([
      expect.objectContaining({ Value: { 'Fn::GetAtt': [expect.stringMatching(/^BackupRestoreSecurityGroup/), 'GroupId'] } }),
    ]);

    const restore = backup.restoreTask!;
    expect(restore.taskDefinition.family).toMatch(RESTORE_FAMILY);
    expect(restore.restoreNowCommand).toContain(`--task-definition ${restore.taskDefinition.family} `);
    expect(restore.targetSecret).toBeDefined();
    expect(restore.securityGroup).toBeDefined();
  });

  test('outputs: false adds no outputs', () => {
    const { template, backup } = backupFixture({ outputs: false });
    expect(Object.keys(template.findOutputs('*'))).toEqual([]);
    expect(backup.restoreTask).toBeDefined();
  });

  test('restoreTask: { enabled: false } removes the task, its secret, security group, alerts and outputs', () => {
    const { template, backup } = backupFixture({ restoreTask: { enabled: false, ephemeralStorageGiB: 500 } });
    expect(backup.restoreTask).toBeUndefined();
    expect(Object.values(template.findResources('AWS::ECS::TaskDefinition')).map((d) => d.Properties.Family as string)).toEqual([
      expect.stringMatching(/-backup$/),
      expect.stringMatching(/-drill$/),
    ]);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.resourcePropertiesCountIs('AWS::EC2::SecurityGroup', { GroupDescription: Match.stringLikeRegexp('^Restore of') }, 0);
    template.resourcePropertiesCountIs('AWS::Events::Rule', { Description: Match.stringLikeRegexp('^Restore of') }, 0);
    expect(Object.keys(template.findOutputs('*')).filter((id) => id.includes('Restore'))).toEqual([]);
  });
});

describe('RestoreTask validation', () => {
  test('rejects sizes Fargate cannot give, reported together with the other PostgresBackup problems', () => {
    expect(() => backupFixture({ cpu: 1000, restoreTask: { cpu: 512, memoryLimitMiB: 8192, ephemeralStorageGiB: 20 } })).toThrow(
      /Invalid PostgresBackup configuration \(3 problems\)[\s\S]*cpu must be one of 256, 512, 1024.*got 1000[\s\S]*restoreTask\.memoryLimitMiB 8192 is not valid with restoreTask\.cpu 512: Fargate accepts 1024-4096 MiB[\s\S]*restoreTask\.ephemeralStorageGiB must be an integer 21-200 \(Fargate's limit\), got 20\. It must hold the downloaded archive/,
    );
    expect(() => backupFixture({ restoreTask: { cpu: 3000 } })).toThrow(
      /1 problem\)[\s\S]*restoreTask\.cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384 .*got 3000/,
    );
    expect(() => backupFixture({ restoreTask: { ephemeralStorageGiB: 50.5 } })).toThrow(
      /restoreTask\.ephemeralStorageGiB must be an integer 21-200 \(Fargate's limit\), got 50\.5/,
    );
    expect(() => backupFixture({ restoreTask: { ephemeralStorageGiB: 201 } })).toThrow(/got 201/);
  });
});

describe('restoreTask configuration (cdk.json context)', () => {
  test('the committed example and the defaults: enabled, 1024 CPU, 2048 MiB, 50 GiB', () => {
    const expected = { enabled: true, cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 50 };
    expect(exampleContext().restoreTask).toEqual(expected);
    expect(parseProjectConfig(exampleContext()).restoreTask).toEqual(expected);
    // Left out: the construct's defaults, as synthesized.
    const context = { ...exampleContext(), restoreTask: undefined };
    expect(parseProjectConfig(context).restoreTask).toEqual({});
    Template.fromJSON(appTemplate(buildApp(new App({ context })).stack)).hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('-restore$'),
      Cpu: '1024',
      Memory: '2048',
      EphemeralStorage: { SizeInGiB: 50 },
    });
  });

  test('reports every bad value at once, naming the setting, the value and the fix', () => {
    expect(
      problemsOf({ ...exampleContext(), restoreTask: { enabled: 'yes', cpu: 1000, memoryMiB: 2048, ephemeralStorageGiB: 500 } }),
    ).toEqual([
      expect.stringMatching(/^restoreTask\.enabled must be true or false, got 'yes'/),
      expect.stringMatching(
        /^restoreTask\.ephemeralStorageGiB must be an integer 21-200, got 500\. It must hold the downloaded archive .* Leave it out for the default \(50\)/,
      ),
      expect.stringMatching(/^restoreTask\.cpu must be one of 256, 512, 1024.*got 1000/),
    ]);
    expect(problemsOf({ ...exampleContext(), restoreTask: { cpu: 1024, memoryMiB: 1024 } })).toEqual([
      expect.stringMatching(/^restoreTask\.memoryMiB 1024 is not valid with restoreTask\.cpu 1024: Fargate accepts 2048-8192 MiB/),
    ]);
    expect(problemsOf({ ...exampleContext(), restoreTask: 'on' })).toEqual([
      expect.stringMatching(/^restoreTask must be an object, got 'on'/),
    ]);
    // Sizes of a disabled task are not checked against Fargate's table.
    expect(problemsOf({ ...exampleContext(), restoreTask: { enabled: false, cpu: 1000 } })).toEqual([]);
  });

  test('-c restoreTask=… is read as JSON', () => {
    const ctx = exampleContext();
    const config = loadProjectConfig({ ...ctx, restoreTask: '{"enabled": false}' });
    expect(config.restoreTask.enabled).toBe(false);
    expect(() => loadProjectConfig({ ...ctx, restoreTask: '{enabled: false' })).toThrow(
      /restoreTask: '\{enabled: false' is not valid JSON/,
    );
  });

  test('the stack gives every database a restore task sized by the configuration, or none', () => {
    const sized = Template.fromJSON(
      appTemplate(
        buildApp(new App({ context: { ...exampleContext(), restoreTask: { memoryMiB: 4096, ephemeralStorageGiB: 120 } } })).stack,
      ),
    );
    sized.resourcePropertiesCountIs(
      'AWS::ECS::TaskDefinition',
      { Family: Match.stringLikeRegexp('-restore$'), Cpu: '1024', Memory: '4096', EphemeralStorage: { SizeInGiB: 120 } },
      2,
    );
    for (const db of ['orders', 'billing']) {
      sized.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: Match.stringLikeRegexp('-restore$'),
        ContainerDefinitions: [Match.objectLike({ Command: ['restore', '--latest', '--dbname', db, '--no-owner', '--no-acl'] })],
      });
    }
    expect(
      Object.keys(sized.findOutputs('*')).filter((id) => /^Database\w+Restore(NowCommand|TargetSecretArn|SecurityGroupId)/.test(id)),
    ).toHaveLength(6);

    const off = Template.fromJSON(
      appTemplate(buildApp(new App({ context: { ...exampleContext(), restoreTask: { enabled: false } } })).stack),
    );
    off.resourcePropertiesCountIs('AWS::ECS::TaskDefinition', { Family: Match.stringLikeRegexp('-restore$') }, 0);
    off.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });
});

describe('RestoreTask cdk-nag', () => {
  test('adds no unacknowledged AwsSolutions finding, and the SMG4 acknowledgement covers only its own secret', () => {
    // GIVEN a standalone construct with its restore task, and an unrelated secret beside it
    const { stack } = backupFixture({}, false);
    new secretsmanager.Secret(stack, 'Unrelated');
    // WHEN the checks run
    const report = new AwsSolutionsChecks().validateScope(stack);
    // THEN only the unrelated secret's missing rotation is reported
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([
      expect.stringMatching(/^AwsSolutions-SMG4: .*Unrelated/),
    ]);
  });
});
