import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  ProjectConfigError,
  DatabaseConnection,
  parseProjectConfig,
  PostgresBackup,
  PostgresBackupProps,
  RESTORE_TARGET_PLACEHOLDER,
} from '../../lib';
import { EXIT_CODE_WORDS } from '../../task/src/contract';

/** Shared fixtures of the CDK tests: environment-agnostic stacks, no lookups, no Docker. */

export const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/postgres-AbCdEf';

/** The `context` of the committed cdk.json. */
export function exampleContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context;
}

/** A stack with an imported VPC (by attributes, so no lookup). */
export function testStack(): { app: App; stack: Stack; vpc: ec2.IVpc } {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
  });
  return { app, stack, vpc };
}

/** An image that needs no asset staging. */
export const TEST_IMAGE = ecs.ContainerImage.fromRegistry('example.com/pg-s3-backup:test');

/** A `PostgresBackup` of database `app` with prefix `myapp` and project `shop`, plus its template. */
export function backupFixture(
  overrides: Partial<PostgresBackupProps> = {},
  synth = true,
): { stack: Stack; backup: PostgresBackup; template: Template } {
  const { stack, vpc } = testStack();
  const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'DbSecret', SECRET_ARN);
  const backup = new PostgresBackup(stack, 'Backup', {
    vpc,
    connection: DatabaseConnection.fromRdsSecret(secret),
    databaseName: 'app',
    prefix: 'myapp',
    project: 'shop',
    image: TEST_IMAGE,
    ...overrides,
  });
  // synth = false leaves the tree open for more constructs (synthesis freezes it).
  return { stack, backup, template: synth ? Template.fromStack(stack) : (undefined as unknown as Template) };
}

/** Every Allow statement of the IAM policies attached to roles whose logical ID matches `role`. */
export function allowStatementsOf(
  template: Template,
  role: RegExp,
): Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }> {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => role.test(r.Ref)))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((s: { Effect: string }) => s.Effect === 'Allow');
}

/** The actions of `statements`, flattened. */
export function actionsOf(statements: Array<{ Action: string | string[] }>): string[] {
  return statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

/** The single container definition named `name` among the task definitions of the template. */
export function containerNamed(template: Template, name: string, family?: RegExp): Record<string, any> {
  const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition')).filter(
    (d) => !family || family.test(String(d.Properties.Family)),
  );
  const found = defs.flatMap((d) => d.Properties.ContainerDefinitions).filter((c: { Name: string }) => c.Name === name);
  if (found.length !== 1) throw new Error(`expected one container '${name}', found ${found.length}`);
  return found[0];
}

/** The plain environment of the container named `name`, as `{ NAME: value }`. */
export function containerEnvironment(template: Template, name: string, family?: RegExp): Record<string, unknown> {
  const env = (containerNamed(template, name, family).Environment ?? []) as Array<{ Name: string; Value: unknown }>;
  return Object.fromEntries(env.map((e) => [e.Name, e.Value]));
}

/**
 * Asserts the failure alerts that watch a task of `kind` (`backup`, `restore`, `drill`) on the
 * cluster: EventBridge rules on "ECS Task State Change" for a stopped task on the cluster in a
 * task group of that kind (`pg-s3-<kind>:…`), all notifying the alarm topic, each alert titled by
 * the event's task group:
 * - backup and restore: one rule per exit code of `EXIT_CODE_WORDS`, whose alert states the code
 *   and its word, and one for any other non-zero code;
 * - drill: one rule for a non-zero exit code in any container, whose alert names no code;
 * - every kind: one rule for a task that never started.
 */
export function expectFailureAlerts(template: Template, kind: 'backup' | 'restore' | 'drill'): void {
  const topic = { Ref: Match.stringLikeRegexp('AlarmTopic') };
  const onCluster = {
    clusterArn: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('Cluster'), 'Arn'] }],
    lastStatus: ['STOPPED'],
    group: Match.arrayWith([{ prefix: `pg-s3-${kind}:` }]),
  };
  const rule = (containers: unknown, title: string) =>
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.ecs'], 'detail-type': ['ECS Task State Change'], detail: { ...onCluster, containers } },
      Targets: [Match.objectLike({ Arn: topic, InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp(title) }) })],
    });
  if (kind === 'drill') {
    rule(
      { exitCode: [{ 'anything-but': [0] }] },
      '"title":"<detail-group> FAILED","description":"<detail-group> FAILED: task <detail-taskArn> stopped with a non-zero exit code',
    );
  } else {
    for (const [code, word] of EXIT_CODE_WORDS) rule({ exitCode: [code] }, `"title":"<detail-group> FAILED \\(exit ${code}, ${word}\\)"`);
    rule(
      { exitCode: [{ 'anything-but': [0, ...EXIT_CODE_WORDS.map(([c]) => c)] }] },
      '"title":"<detail-group> FAILED \\(exit <detail-containers-0--exitCode>\\)"',
    );
  }
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: {
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { ...onCluster, stopCode: ['TaskFailedToStart'] },
    },
    Targets: [
      Match.objectLike({
        Arn: topic,
        InputTransformer: Match.objectLike({ InputTemplate: Match.stringLikeRegexp('<detail-group> did not start') }),
      }),
    ],
  });
}

/**
 * The template as JSON, without the restore target secrets' `SecretString` placeholder: the
 * one secret value the stack holds on purpose (no credential, see `RESTORE_TARGET_PLACEHOLDER`), so that
 * searches for passwords and credential-bearing URLs can run on the rest. Fails if any
 * secret in the template holds anything else.
 */
export function templateJsonWithoutPlaceholder(template: Template): string {
  for (const secret of Object.values(template.findResources('AWS::SecretsManager::Secret'))) {
    expect(secret.Properties.SecretString).toBe(RESTORE_TARGET_PLACEHOLDER);
    expect(secret.Properties.GenerateSecretString).toBeUndefined();
  }
  const pair = JSON.stringify({ SecretString: RESTORE_TARGET_PLACEHOLDER }).slice(1, -1);
  return JSON.stringify(template.toJSON()).split(pair).join('');
}

/** The problems `parseProjectConfig` reports for `ctx` (none when it is valid). */
export function problemsOf(ctx: Record<string, unknown>): string[] {
  try {
    parseProjectConfig(ctx);
  } catch (err) {
    if (err instanceof ProjectConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

/** A `PostgresBackup` of database `app` (no drill) into an existing bucket encrypted with a KMS key `Key`. */
export function kmsBucketFixture(): { stack: Stack; template: Template } {
  const { stack, vpc } = testStack();
  const key = new kms.Key(stack, 'Key');
  const bucket = new s3.Bucket(stack, 'Existing', { encryption: s3.BucketEncryption.KMS, encryptionKey: key });
  const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', SECRET_ARN);
  new PostgresBackup(stack, 'Backup', {
    vpc,
    connection: DatabaseConnection.fromRdsSecret(secret),
    databaseName: 'app',
    bucket,
    image: TEST_IMAGE,
    drill: { enabled: false },
  });
  return { stack, template: Template.fromStack(stack) };
}

/** A customer-managed key that encrypts some database secrets in {@link everyOptionContext}. */
export const SECRET_KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';

/**
 * The committed cdk.json with every option on: Object Lock, a bucket KMS key, a transition,
 * ARM64, the drill and the restore task, a parallel backup (jobs 4), alerts to Slack, Teams and two webhooks (their URLs in
 * secrets named by ARN and by name), and databases in every secret form: a complete ARN,
 * a URL secret with a field, an RDS-managed `rds!` secret by name (with `host`) and by ARN
 * with a customer-managed key, and a secret by name with a customer-managed key.
 */
export function everyOptionContext(): Record<string, unknown> {
  return {
    ...exampleContext(),
    cpuArchitecture: 'ARM64',
    objectLock: { mode: 'governance', days: 30 },
    transition: { storageClass: 'GLACIER_IR', afterDays: 30 },
    bucketKmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    staggerMinutes: 10,
    databases: [
      {
        name: 'orders',
        secret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders/postgres-AbCdEf',
        securityGroupId: 'sg-0123456789abcdef0',
      },
      {
        name: 'billing',
        secret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:billing/app-GhIjKl',
        secretFormat: 'url',
        secretField: 'url',
        sslMode: 'verify-full',
      },
      { name: 'inventory', secret: 'rds!db-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', host: 'inventory.abc123.eu-west-1.rds.amazonaws.com' },
      {
        name: 'ledger',
        secret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1b2c3d4e-5f60-4b7c-9d8e-0f1a2b3c4d5e-XyZ123',
        secretKmsKeyArn: SECRET_KEY_ARN,
        host: 'ledger.abc123.eu-west-1.rds.amazonaws.com',
        jobs: 4,
      },
      {
        name: 'audit',
        secret: 'audit/postgres',
        secretKmsKeyArn: SECRET_KEY_ARN,
        compress: 'zstd:3',
        excludeSchemas: ['scratch'],
        excludeTableData: ['public.audit_log', 'public.sessions'],
      },
    ],
    drill: { enabled: true, schedule: 'cron(0 6 ? * MON *)' },
    restoreTask: { enabled: true, ephemeralStorageGiB: 100 },
    ...ALERT_CHANNELS,
  };
}

/** Slack, Teams and two webhooks (secrets by complete ARN, and by name with a JSON field). */
export const ALERT_CHANNELS = {
  alarmSlack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCDEF' },
  alarmTeams: {
    teamId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    channelId: '19%3a0123456789abcdef0123456789abcdef%40thread.tacv2',
    tenantId: '11112222-3333-4444-5555-666677778888',
  },
  alarmWebhooks: [
    { secret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:alerts/pagerduty-AbCdEf' },
    { secret: 'alerts/opsgenie', field: 'url' },
  ],
};

/** The committed example with `n` databases (db000, db001, …), each with its own secret, started 5 minutes apart. */
export function projectOf(n: number): Record<string, unknown> {
  return {
    ...exampleContext(),
    staggerMinutes: 5,
    databases: Array.from({ length: n }, (_, i) => {
      const name = `db${String(i).padStart(3, '0')}`;
      return { name, secret: `arn:aws:secretsmanager:eu-west-1:111122223333:secret:${name}/postgres-AbCdEf` };
    }),
  };
}
