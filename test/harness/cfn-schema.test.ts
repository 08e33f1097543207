import { App, Aws, CfnCondition, Duration, Fn, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { cfnSchemaProblems } from '../support/aws/cfn-schema';

/** A small stack with the resource kinds this project deploys, synthesized once; each test mutates a copy. */
function synthesize(): Record<string, any> {
  const stack = new Stack(new App(), 'Fixture', { env: { account: '111122223333', region: 'eu-west-1' } });
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
  const bucket = new s3.Bucket(stack, 'Bucket', {
    encryptionKey: key,
    versioned: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    lifecycleRules: [
      { abortIncompleteMultipartUploadAfter: Duration.days(1) },
      { transitions: [{ storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(30) }] },
      { noncurrentVersionExpiration: Duration.days(90), expiration: Duration.days(365) },
    ],
  });
  // An optional property through a condition: the AWS::NoValue branch must not count as a wrong type.
  const strict = new CfnCondition(stack, 'Strict', { expression: Fn.conditionEquals(Aws.REGION, 'eu-west-1') });
  (bucket.node.defaultChild as s3.CfnBucket).addPropertyOverride('ObjectLockEnabled', Fn.conditionIf(strict.logicalId, true, Aws.NO_VALUE));

  const topic = new sns.Topic(stack, 'Topic', { masterKey: key });
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      actions: ['sns:Publish'],
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      resources: [topic.topicArn],
    }),
  );
  new sns.Subscription(stack, 'Subscription', { topic, protocol: sns.SubscriptionProtocol.EMAIL, endpoint: 'ops@example.com' });

  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
  });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const secret = secretsmanager.Secret.fromSecretCompleteArn(
    stack,
    'Secret',
    'arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf',
  );
  const taskDefinition = new ecs.FargateTaskDefinition(stack, 'Task', { cpu: 512, memoryLimitMiB: 1024, ephemeralStorageGiB: 40 });
  taskDefinition.addContainer('backup', {
    image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/postgres:18'),
    command: ['backup', '--all'],
    environment: { BUCKET: bucket.bucketName },
    secrets: { PGPASSWORD: ecs.Secret.fromSecretsManager(secret, 'password') },
    logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'backup', logRetention: logs.RetentionDays.ONE_MONTH }),
    readonlyRootFilesystem: true,
  });
  new cloudwatch.Alarm(stack, 'Alarm', {
    metric: new cloudwatch.Metric({ namespace: 'PgS3Backup', metricName: 'Failures', period: Duration.hours(1) }),
    threshold: 0,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  new scheduler.Schedule(stack, 'Schedule', {
    schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }),
    target: new targets.EcsRunFargateTask(cluster, { taskDefinition, retryAttempts: 2 }),
  });
  return Template.fromStack(stack).toJSON();
}

const fixture = synthesize();

/** The logical ID of the (first) resource of a type in the fixture. */
function idOf(type: string): string {
  const id = Object.keys(fixture.Resources).find((k) => fixture.Resources[k].Type === type);
  if (!id) throw new Error(`no ${type} in the fixture`);
  return id;
}

/** Problems in a copy of the fixture after `mutate` changed the properties of the first resource of `type`. */
function problemsAfter(type: string, mutate: (properties: any, resource: any) => void): string[] {
  const template = structuredClone(fixture);
  const resource = template.Resources[idOf(type)];
  mutate(resource.Properties, resource);
  return cfnSchemaProblems(template);
}

describe('cfnSchemaProblems', () => {
  test('a synthesized stack with intrinsics, nested types, tags, maps and an Fn::If/AWS::NoValue override has no problems', () => {
    const types = new Set(Object.values<any>(fixture.Resources).map((r) => r.Type));
    for (const t of ['AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::SNS::TopicPolicy', 'AWS::ECS::TaskDefinition', 'AWS::CloudWatch::Alarm']) {
      expect(types).toContain(t);
    }
    expect(fixture.Resources[idOf('AWS::Scheduler::Schedule')].Properties.Target.EcsParameters).toBeDefined();
    const container = fixture.Resources[idOf('AWS::ECS::TaskDefinition')].Properties.ContainerDefinitions[0];
    expect(container).toMatchObject({ Secrets: [expect.anything()], LogConfiguration: { LogDriver: 'awslogs' } });
    expect(fixture.Resources[idOf('AWS::S3::Bucket')].Properties.ObjectLockEnabled).toEqual({
      'Fn::If': ['Strict', true, { Ref: 'AWS::NoValue' }],
    });
    expect(cfnSchemaProblems(fixture)).toEqual([]);
  });

  test('an unknown resource type', () => {
    const id = idOf('AWS::S3::Bucket');
    expect(problemsAfter('AWS::S3::Bucket', (_p, r) => (r.Type = 'AWS::S3::Buckets'))).toEqual([
      `${id}.Type: unknown resource type AWS::S3::Buckets`,
    ]);
  });

  test('an unknown property, at the top level and nested in an array of type definitions', () => {
    const id = idOf('AWS::S3::Bucket');
    const top = problemsAfter('AWS::S3::Bucket', (p) => (p.BucketNam = 'backups'));
    expect(top).toEqual([expect.stringMatching(new RegExp(`^${id}\\.Properties\\.BucketNam: unknown property \\(known: .*BucketName`))]);
    const nested = problemsAfter('AWS::S3::Bucket', (p) => (p.LifecycleConfiguration.Rules[0].ExpirationInDay = 30));
    expect(nested).toEqual([
      expect.stringMatching(new RegExp(`^${id}\\.Properties\\.LifecycleConfiguration\\.Rules\\[0\\]\\.ExpirationInDay: unknown property`)),
    ]);
  });

  test('a missing required property, on a resource and in a nested type', () => {
    const sub = idOf('AWS::SNS::Subscription');
    expect(problemsAfter('AWS::SNS::Subscription', (p) => delete p.Protocol)).toEqual([
      `${sub}.Properties: missing required property Protocol`,
    ]);
    const task = idOf('AWS::ECS::TaskDefinition');
    expect(problemsAfter('AWS::ECS::TaskDefinition', (p) => delete p.ContainerDefinitions[0].Image)).toEqual([
      `${task}.Properties.ContainerDefinitions[0]: missing required property Image`,
    ]);
  });

  test('wrong primitives: a boolean for an integer, an object for a string, a word for a number', () => {
    const id = idOf('AWS::S3::Bucket');
    const rule = `${id}.Properties.LifecycleConfiguration.Rules[2]`;
    expect(
      problemsAfter('AWS::S3::Bucket', (p) => (p.LifecycleConfiguration.Rules[2].NoncurrentVersionExpiration.NoncurrentDays = true)),
    ).toEqual([`${rule}.NoncurrentVersionExpiration.NoncurrentDays: expected integer, got boolean true`]);
    expect(problemsAfter('AWS::S3::Bucket', (p) => (p.BucketName = { name: 'backups' }))).toEqual([
      `${id}.Properties.BucketName: expected string, got object {"name":"backups"}`,
    ]);
    const alarm = idOf('AWS::CloudWatch::Alarm');
    expect(problemsAfter('AWS::CloudWatch::Alarm', (p) => (p.Threshold = 'zero'))).toEqual([
      `${alarm}.Properties.Threshold: expected number, got string "zero"`,
    ]);
  });

  test('scalars CloudFormation converts are accepted: numbers and booleans for strings, numeric strings for numbers', () => {
    expect(problemsAfter('AWS::S3::Bucket', (p) => (p.BucketName = 12345))).toEqual([]);
    expect(problemsAfter('AWS::CloudWatch::Alarm', (p) => ((p.Threshold = '0.5'), (p.ActionsEnabled = 'true')))).toEqual([]);
  });

  test('shape mismatches: an array where an object is wanted, a scalar where an array is, a bad map value, a malformed tag', () => {
    const id = idOf('AWS::S3::Bucket');
    const rules = fixture.Resources[id].Properties.LifecycleConfiguration.Rules;
    expect(problemsAfter('AWS::S3::Bucket', (p) => (p.LifecycleConfiguration = rules))).toEqual([
      expect.stringMatching(
        new RegExp(`^${id}\\.Properties\\.LifecycleConfiguration: expected object \\(LifecycleConfiguration\\), got array`),
      ),
    ]);
    const task = idOf('AWS::ECS::TaskDefinition');
    expect(problemsAfter('AWS::ECS::TaskDefinition', (p) => (p.ContainerDefinitions[0].Command = 'backup --all'))).toEqual([
      `${task}.Properties.ContainerDefinitions[0].Command: expected array of string, got string "backup --all"`,
    ]);
    expect(
      problemsAfter(
        'AWS::ECS::TaskDefinition',
        (p) => (p.ContainerDefinitions[0].LogConfiguration.Options['awslogs-region'] = ['eu-west-1']),
      ),
    ).toEqual([
      `${task}.Properties.ContainerDefinitions[0].LogConfiguration.Options["awslogs-region"]: expected string, got array ["eu-west-1"]`,
    ]);
    expect(problemsAfter('AWS::S3::Bucket', (p) => (p.Tags = [{ Key: 'team', value: 'data' }]))).toEqual([
      `${id}.Properties.Tags[0]: missing required property Value`,
      expect.stringMatching(new RegExp(`^${id}\\.Properties\\.Tags\\[0\\]\\.value: unknown property`)),
    ]);
  });

  test('enum values: the spec carries allowed values for strings and a few integers', () => {
    const schedule = idOf('AWS::Scheduler::Schedule');
    expect(problemsAfter('AWS::Scheduler::Schedule', (p) => (p.State = 'ON'))).toEqual([
      `${schedule}.Properties.State: "ON" is not an allowed value (allowed: ENABLED, DISABLED)`,
    ]);
    const bucket = idOf('AWS::S3::Bucket');
    expect(problemsAfter('AWS::S3::Bucket', (p) => (p.LifecycleConfiguration.Rules[1].Status = 'enabled'))).toEqual([
      `${bucket}.Properties.LifecycleConfiguration.Rules[1].Status: "enabled" is not an allowed value (allowed: Enabled, Disabled)`,
    ]);
    const logGroup = idOf('AWS::Logs::LogGroup');
    expect(problemsAfter('AWS::Logs::LogGroup', (p) => (p.RetentionInDays = 42))).toEqual([
      expect.stringMatching(
        new RegExp(`^${logGroup}\\.Properties\\.RetentionInDays: 42 is not an allowed value \\(allowed: 1, 3, 5, 7, 14, 30,`),
      ),
    ]);
    // An intrinsic's value is unknown until deployment, so it is not held to the enum.
    expect(problemsAfter('AWS::Scheduler::Schedule', (p) => (p.State = { 'Fn::FindInMap': ['States', 'prod', 'state'] }))).toEqual([]);
  });

  test('union types accept any member and name all members when none fits', () => {
    const sub = idOf('AWS::SNS::Subscription');
    expect(problemsAfter('AWS::SNS::Subscription', (p) => (p.FilterPolicy = { severity: ['high'] }))).toEqual([]);
    expect(problemsAfter('AWS::SNS::Subscription', (p) => (p.FilterPolicy = '{"severity":["high"]}'))).toEqual([]);
    expect(problemsAfter('AWS::SNS::Subscription', (p) => (p.FilterPolicy = [{ severity: 'high' }]))).toEqual([
      `${sub}.Properties.FilterPolicy: expected JSON object | string, got array [{"severity":"high"}]`,
    ]);
  });

  test('intrinsics: scalar ones in scalar places, list ones and list-typed Ref/GetAtt in list places, Fn::If branch by branch', () => {
    const template = (actions: unknown, description: unknown = 'Backups failing') => ({
      Parameters: { Topics: { Type: 'CommaDelimitedList' }, Name: { Type: 'String' } },
      Resources: {
        Vpc: { Type: 'AWS::EC2::VPC', Properties: { CidrBlock: '10.0.0.0/16' } },
        Alarm: { Type: 'AWS::CloudWatch::Alarm', Properties: { AlarmActions: actions, AlarmDescription: description } },
      },
    });
    const ok = [
      { Ref: 'Topics' },
      { 'Fn::Split': [',', { 'Fn::ImportValue': 'topics' }] },
      { 'Fn::GetAtt': ['Vpc', 'CidrBlockAssociations'] },
      { 'Fn::If': ['Prod', [{ Ref: 'Name' }], { Ref: 'AWS::NoValue' }] },
      [{ 'Fn::Sub': 'arn:aws:sns:${AWS::Region}:${AWS::AccountId}:ops' }, { 'Fn::Select': [0, { Ref: 'Topics' }] }],
    ];
    for (const actions of ok) expect(cfnSchemaProblems(template(actions))).toEqual([]);
    expect(cfnSchemaProblems(template({ Ref: 'Name' }))).toEqual(['Alarm.Properties.AlarmActions: Ref cannot produce array of string']);
    expect(cfnSchemaProblems(template({ 'Fn::GetAtt': 'Vpc.CidrBlock' }))).toEqual([
      'Alarm.Properties.AlarmActions: Fn::GetAtt cannot produce array of string',
    ]);
    expect(cfnSchemaProblems(template({ 'Fn::Join': [',', ['a', 'b']] }))).toEqual([
      'Alarm.Properties.AlarmActions: Fn::Join cannot produce array of string',
    ]);
    expect(cfnSchemaProblems(template([], { 'Fn::Split': [',', 'a,b'] }))).toEqual([
      'Alarm.Properties.AlarmDescription: Fn::Split cannot produce string',
    ]);
    expect(cfnSchemaProblems(template(['arn'], { 'Fn::If': ['Prod', { 'Fn::Join': ['', ['a']] }, ['b']] }))).toEqual([
      'Alarm.Properties.AlarmDescription.Fn::If[2]: expected string, got array ["b"]',
    ]);
    expect(cfnSchemaProblems(template(['arn'], { 'Fn::Equals': ['a', 'b'] }))).toEqual([
      'Alarm.Properties.AlarmDescription: unsupported intrinsic Fn::Equals in place of string',
    ]);
  });

  test('template and resource keys: unknown ones, a missing Type, skipped CDK metadata, free-form custom resources', () => {
    const template = {
      AWSTemplateFormatVersion: '2010-09-09',
      Resource: {},
      Resources: {
        CDKMetadata: { Type: 'AWS::CDK::Metadata', Properties: { Analytics: 'v2:deflate64:abc' } },
        Topic: { Type: 'AWS::SNS::Topic', DeletionPolicy: 'Retain', DependOn: ['Other'] },
        NoType: { Properties: {} },
        Custom: { Type: 'Custom::Seed', Properties: { ServiceToken: { 'Fn::GetAtt': ['Fn', 'Arn'] }, Rows: [1, 2], Anything: { a: 1 } } },
        NoToken: { Type: 'AWS::CloudFormation::CustomResource', Properties: { Rows: 3 } },
      },
    };
    expect(cfnSchemaProblems(template)).toEqual([
      'Template: unknown top-level key Resource',
      'Topic: unknown resource attribute DependOn',
      'NoType.Type: expected a resource type string, got nothing',
      'NoToken.Properties: missing required property ServiceToken',
    ]);
    expect(cfnSchemaProblems({ Outputs: {} })).toEqual(['Template: Resources must be an object of resources']);
  });

  test('an alarm EvaluationWindow with WallClockWindow.Timezone (set through an escape hatch) is in the spec, and its fields are checked', () => {
    const alarm = idOf('AWS::CloudWatch::Alarm');
    expect(problemsAfter('AWS::CloudWatch::Alarm', (p) => (p.EvaluationWindow = { WallClockWindow: { Timezone: 'UTC' } }))).toEqual([]);
    expect(problemsAfter('AWS::CloudWatch::Alarm', (p) => (p.EvaluationWindow = { WallClockWindow: { TimeZone: 'UTC' } }))).toEqual([
      expect.stringMatching(
        new RegExp(`^${alarm}\\.Properties\\.EvaluationWindow\\.WallClockWindow\\.TimeZone: unknown property \\(known: Timezone\\)`),
      ),
    ]);
  });
});
