import { existsSync, readFileSync } from 'node:fs';
import { appTemplate } from '../support/aws/template';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../bin/app';
import { ALERT_CHANNELS, exampleContext, templateJsonWithoutPlaceholder } from '../support/cdk';

/** The app as `cdk synth` builds it from the committed cdk.json (plus `extra` -c values). */
function exampleApp(extra: Record<string, unknown> = {}) {
  const app = new App({ context: { ...exampleContext(), ...extra } });
  return buildApp(app);
}

describe('the app from the committed cdk.json', () => {
  const { app, stack } = exampleApp();
  const template = Template.fromJSON(appTemplate(stack));

  test('builds one environment-agnostic stack named after the project', () => {
    expect(stack.stackName).toBe('PgS3Backup-orders');
    expect(stack.account).toMatch(/^\$\{Token/);
  });

  test('imports the VPC by attributes: tasks run in the configured private subnets', () => {
    const subnets = Object.values(template.findResources('AWS::Scheduler::Schedule')).map(
      (s) => s.Properties.Target.EcsParameters.NetworkConfiguration.AwsvpcConfiguration.Subnets,
    );
    for (const s of subnets) expect(s).toEqual(['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210']);
    template.resourceCountIs('AWS::EC2::VPC', 0);
  });

  test('backs up several databases, each in its own folder, with staggered starts, sharing one bucket, topic, log group and cluster', () => {
    template.resourceCountIs('AWS::S3::Bucket', 2); // backups + access logs
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::Logs::LogGroup', 1);
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.resourceCountIs('AWS::ECS::TaskDefinition', 6); // backup + drill + restore per database
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 4 * * ? *)',
      Target: Match.objectLike({
        EcsParameters: Match.objectLike({ TaskDefinitionArn: { Ref: Match.stringLikeRegexp('^DatabaseOrdersTaskDefinition') } }),
      }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 4 * * ? *)',
      Target: Match.objectLike({
        EcsParameters: Match.objectLike({ TaskDefinitionArn: { Ref: Match.stringLikeRegexp('^DatabaseBillingTaskDefinition') } }),
      }),
    });
    const writerPrefixes = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([id]) => /^Database\w+TaskDefinitionTaskRole/.test(id) && !id.includes('Drill') && !id.includes('Restore'))
      .map(([, p]) => p.Properties.PolicyDocument.Statement[0].Condition.StringLike['s3:prefix']);
    expect(writerPrefixes.sort()).toEqual([['orders/billing/*'], ['orders/orders/*']]);
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'BackupSuccess' }, 2);
  });

  test('the RDS secret is injected by field and the Heroku-style secret as DATABASE_URL; no password in the template', () => {
    const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition')).flatMap((d) => d.Properties.ContainerDefinitions);
    const backups = defs.filter((c: { Name: string }) => c.Name === 'backup');
    expect(backups.map((c: { Secrets: Array<{ Name: string }> }) => c.Secrets.map((s) => s.Name))).toEqual([
      ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD'],
      ['DATABASE_URL'],
    ]);
    const json = templateJsonWithoutPlaceholder(template);
    expect(json).not.toMatch(/postgres(ql)?:\/\/[^"@/]*:[^"@/]*@/);
    expect(json).not.toMatch(/"Name":"(PGPASSWORD|DATABASE_URL|RESTORE_TARGET_URL)","Value"/);
  });

  test('the e-mail from the configuration is subscribed to the alert topic', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
    });
  });

  test('scheduler dead letters alarm on the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SchedulerDeadLetterQueue'), 'QueueName'] } }],
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^AlertsTopic') }],
    });
  });

  test('has a dashboard (last backup per database, size, duration, drills, alarms) and a saved Logs Insights query for recent runs', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    for (const text of [
      'Last successful backup per database',
      'BackupBytes',
      'BackupDurationSeconds',
      'BackupSuccess',
      'DrillSuccess',
      'alarms',
    ])
      expect(body).toContain(text);
    template.hasResourceProperties('AWS::Logs::QueryDefinition', {
      Name: 'pg-s3-backup/orders/recent-runs',
      QueryString: Match.stringLikeRegexp("filter event in \\['backup.complete', 'backup.failed', 'verify.ok', 'verify.failed'"),
      LogGroupNames: [{ Ref: Match.stringLikeRegexp('^LogGroup') }],
    });
  });

  test('outputs the bucket, log group, topic and ready run-task commands', () => {
    const outputs = template.findOutputs('*');
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['BucketName', 'LogGroupName', 'AlarmTopicArn', 'DashboardName']));
    const commands = Object.entries(outputs).filter(([id]) => /BackupNowCommand|DrillNowCommand/.test(id));
    expect(commands).toHaveLength(4);
    const text = JSON.stringify(commands);
    expect(text).toContain('aws ecs run-task --cluster ');
    expect(text).toContain(
      '--launch-type FARGATE --network-configuration \\"awsvpcConfiguration={subnets=[subnet-0123456789abcdef0,subnet-0fedcba9876543210]',
    );
  });

  test('cdk-nag AwsSolutions finds nothing unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    expect(report.success).toBe(true);
  });

  test('the container image is staged from task/Dockerfile with the PG_MAJOR build argument, without Docker', () => {
    const asm = app.synth();
    const manifest = JSON.parse(readFileSync(join(asm.directory, `${stack.artifactId}.assets.json`), 'utf8'));
    const images: Array<{ source: { directory: string; dockerFile: string; dockerBuildArgs: Record<string, string>; platform: string } }> =
      Object.values(manifest.dockerImages);
    // One task image shared by every database, drill and restore, and one drill server image.
    expect(images).toHaveLength(2);
    const task = images.find((i) => i.source.dockerFile === 'task/Dockerfile')!;
    expect(task.source).toMatchObject({ dockerBuildArgs: { PG_MAJOR: '18' }, platform: 'linux/amd64' });
    // The drill's PostgreSQL comes from task/drill-server (a copy of the official image in the asset repository).
    const server = images.find((i) => i !== task)!;
    expect(server.source).toMatchObject({ dockerBuildArgs: { PG_MAJOR: '18' }, platform: 'linux/amd64' });
    expect(readFileSync(join(asm.directory, server.source.directory, 'Dockerfile'), 'utf8')).toMatch(
      /^FROM public\.ecr\.aws\/docker\/library\/postgres:\$\{PG_MAJOR\}$/m,
    );
    // The context is the repository root filtered by /.dockerignore: sources in, node_modules and build output out.
    const staged = join(asm.directory, task.source.directory);
    for (const f of ['task/Dockerfile', 'package.json', 'package-lock.json', 'task/build.mjs', 'task/src/cli.ts'])
      expect(existsSync(join(staged, f))).toBe(true);
    for (const f of ['node_modules', 'task/dist', 'cdk.out', '.git', 'test', 'lib']) expect(existsSync(join(staged, f))).toBe(false);
  });
});

describe('the app with alerts to Slack, Teams and webhooks', () => {
  const { app, stack } = exampleApp(ALERT_CHANNELS);
  const template = Template.fromJSON(appTemplate(stack));
  const topic = { Ref: Match.stringLikeRegexp('^AlertsTopic') };
  const guardrail = { Ref: Match.stringLikeRegexp('^AlertsChatGuardrailPolicy') };
  const role = { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertsChatChannelRole'), 'Arn'] };

  test('Slack and Teams channels (AWS Chatbot) are subscribed to the alert topic, with the read-only role and guardrail, no user roles', () => {
    template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      ConfigurationName: Match.stringLikeRegexp('^[A-Za-z0-9-_]{1,128}$'),
      SlackWorkspaceId: 'T0123ABCD',
      SlackChannelId: 'C0123ABCDEF',
      SnsTopicArns: [topic],
      IamRoleArn: role,
      GuardrailPolicies: [guardrail],
      UserRoleRequired: false,
      LoggingLevel: 'ERROR',
    });
    template.hasResourceProperties('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', {
      ConfigurationName: Match.stringLikeRegexp('^[A-Za-z0-9-_]{1,128}$'),
      TeamId: ALERT_CHANNELS.alarmTeams.teamId,
      TeamsChannelId: ALERT_CHANNELS.alarmTeams.channelId,
      TeamsTenantId: ALERT_CHANNELS.alarmTeams.tenantId,
      SnsTopicArns: [topic],
      IamRoleArn: role,
      GuardrailPolicies: [guardrail],
      UserRoleRequired: false,
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'chatbot.amazonaws.com' } })] },
    });
    // Channel role and guardrail: AWS's notification template, nothing else.
    const readOnly = [{ Effect: 'Allow', Action: ['cloudwatch:Describe*', 'cloudwatch:Get*', 'cloudwatch:List*'], Resource: '*' }];
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', { PolicyDocument: { Statement: readOnly, Version: '2012-10-17' } });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^AlertsChatChannelRole') }],
      PolicyDocument: { Statement: readOnly, Version: '2012-10-17' },
    });
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 2); // the guardrail and the operators' read-only policy
  });

  test('each webhook is an https subscription whose URL is a Secrets Manager dynamic reference: no URL in the template', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      TopicArn: topic,
      Endpoint: '{{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:111122223333:secret:alerts/pagerduty-AbCdEf:SecretString:::}}',
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      TopicArn: topic,
      Endpoint: '{{resolve:secretsmanager:alerts/opsgenie:SecretString:url::}}',
    });
    template.resourcePropertiesCountIs('AWS::SNS::Subscription', { Protocol: 'https' }, 2);
    expect(templateJsonWithoutPlaceholder(template)).not.toMatch(/https?:\/\/(?!s3\.|docs\.)/);
  });

  test('cdk-nag AwsSolutions finds nothing unacknowledged (the chat policies acknowledge their own wildcards by exact finding)', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});

describe('the app with other configuration', () => {
  test('Object Lock, a transition and a disabled drill come from the configuration', () => {
    const { stack } = exampleApp({
      objectLock: { mode: 'compliance', days: 30 },
      transition: { storageClass: 'GLACIER_IR', afterDays: 30 },
      drill: { enabled: false },
    });
    const template = Template.fromJSON(appTemplate(stack));
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } } },
    });
    template.resourceCountIs('AWS::ECS::TaskDefinition', 4); // backup + restore per database
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'DrillSuccess' }, 0);
  });

  test('an existing bucket is used as is and no bucket is created', () => {
    const ctx = exampleContext();
    const { stack } = exampleApp({ ...ctx, existingBucket: { name: 'team-backups' }, retention: undefined });
    const template = Template.fromJSON(appTemplate(stack));
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'BACKUP_BUCKET', Value: 'team-backups' }]) })],
    });
  });

  test('a bad -c value fails synth with every problem listed', () => {
    expect(() => exampleApp({ schedule: 'daily', cpu: '3' })).toThrow(
      /2 problems[\s\S]*schedule 'daily' is not a schedule expression[\s\S]*cpu must be an integer/,
    );
  });
});
