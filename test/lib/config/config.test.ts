import { App } from 'aws-cdk-lib';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { appTemplate } from '../../support/aws/template';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../../bin/app';
import { loadProjectConfig, parseProjectConfig } from '../../../lib';
import { staggered } from '../../../lib/config/schedule';
import { exampleContext, problemsOf } from '../../support/cdk';

describe('project configuration', () => {
  test('the committed cdk.json example is valid, and what it leaves out gets the documented defaults from the constructs', () => {
    const config = parseProjectConfig(exampleContext());
    expect(config.project).toBe('orders');
    expect(config.databases.map((d) => [d.name, d.secretFormat, d.prefix, d.schedule])).toEqual([
      ['orders', 'rds', 'orders', 'cron(0 4 * * ? *)'],
      ['billing', 'url', 'orders', 'cron(30 4 * * ? *)'],
    ]);
    // Left out, left undefined: the construct each is given to owns its default.
    expect(config).toMatchObject({ cpu: undefined, memoryMiB: undefined, postgresMajorVersion: undefined, logRetentionDays: undefined });
    expect(config.drill).toMatchObject({ enabled: true, schedule: 'cron(0 6 ? * MON *)', ephemeralStorageGiB: undefined });

    // …and the documented defaults are what is synthesized.
    const template = Template.fromJSON(appTemplate(buildApp(new App({ context: exampleContext() })).stack));
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Family: Match.stringLikeRegexp('-backup$'), Cpu: '1024', Memory: '2048' });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: Match.stringLikeRegexp('-drill$'),
      Cpu: '1024',
      Memory: '4096',
      EphemeralStorage: { SizeInGiB: 50 },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'BackupSuccess', EvaluationPeriods: 26, Period: 3600 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'DrillSuccess' });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } })]),
      },
    });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({ Name: 'backup', Environment: Match.arrayWith([{ Name: 'PGSSLMODE', Value: 'require' }]) }),
      ]),
    });
  });

  test('sslRootCert is an absolute path in the container', () => {
    const ctx = (sslRootCert: unknown) => ({
      ...exampleContext(),
      databases: [{ name: 'app', secret: 'app/db', sslMode: 'verify-full', sslRootCert }],
    });
    expect(problemsOf(ctx('/etc/ssl/certs/corp-ca.pem'))).toEqual([]);
    expect(problemsOf(ctx('certs/ca.pem'))).toEqual([
      expect.stringMatching(/^databases\[0\]\.sslRootCert 'certs\/ca\.pem' is not valid: an absolute path/),
    ]);
  });

  test('accepts RDS-managed secrets (rds!db-…) by name and by ARN, and still refuses other punctuation', () => {
    const ctx = (secret: string) => ({ ...exampleContext(), databases: [{ name: 'app', secret, host: 'db.example.com' }] });
    expect(problemsOf(ctx('rds!db-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'))).toEqual([]);
    expect(
      problemsOf(ctx('arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-AbCdEf')),
    ).toEqual([]);
    expect(problemsOf(ctx('app secret;rm'))).toEqual([expect.stringMatching(/^databases\[0\]\.secret 'app secret;rm' is not valid/)]);
  });

  test('a database chooses what to dump with pg_dump patterns; typos in its keys and unusable patterns are reported', () => {
    const ctx = (db: Record<string, unknown>) => ({ ...exampleContext(), databases: [{ name: 'app', secret: 'app/db', ...db }] });
    const ok = parseProjectConfig(ctx({ excludeTableData: ['public.audit_log', 'sessions_*'], excludeSchemas: ['reporting'] }));
    expect(ok.databases[0].selection).toEqual({ excludeSchemas: ['reporting'], excludeTableData: ['public.audit_log', 'sessions_*'] });
    expect(parseProjectConfig(ctx({})).databases[0].selection).toBeUndefined();
    expect(
      problemsOf(
        ctx({ excludeTableDate: ['x'], tables: ['public.orders'], schemas: ['public'], excludeTables: 'audit', excludeTableData: [' '] }),
      ),
    ).toEqual([
      "databases[0].excludeTableDate is not a known key: did you mean 'databases[0].excludeTableData'?",
      'databases[0].excludeTables must be a list of pg_dump patterns, got \'audit\'. Example: ["public.audit_log", "sessions_*"].',
      'databases[0].excludeTableData has an empty pattern or one with control characters: " ".',
      expect.stringMatching(
        /^databases\[0\]\.tables cannot be combined with databases\[0\]\.schemas or databases\[0\]\.excludeSchemas: pg_dump ignores/,
      ),
    ]);
  });

  test('reports every problem at once, each naming the setting, the value and the fix', () => {
    const problems = problemsOf({
      project: 'my project!',
      vpc: { vpcId: 'vpc-123', availabilityZones: ['eu-west-1a'], privateSubnetIds: 'subnet-1' },
      databases: [
        { name: 'app', secret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:x-AbCdEf', secretFormat: 'heroku' },
        { name: 'App', secret: '' },
      ],
      schedule: 'cron(0 4 * * *)',
      cpu: 1024,
      memoryMiB: 1000,
      objectLock: { mode: 'strict' },
      drill: { overdueAfterDays: 8 },
      alarmEmail: 'not-an-address',
    });
    const expected = [
      /^project 'my project!' is not valid: a short name/,
      /^vpc\.vpcId 'vpc-123' is not valid: the VPC ID/,
      /^vpc\.privateSubnetIds must be a non-empty list, got 'subnet-1'/,
      /^schedule 'cron\(0 4 \* \* \*\)' has 5 fields; EventBridge cron has 6/,
      /^databases\[0\]\.secretFormat must be "rds" .* or "url" .*, got 'heroku'/,
      /^databases\[1\]\.name 'App' appears twice/,
      /^databases\[1\]\.secret is required: the secret's complete ARN/,
      /^objectLock\.mode must be "governance" or "compliance", got 'strict'/,
      /^objectLock\.days is required/,
      /^alarmEmail 'not-an-address' is not valid: an e-mail address/,
      /^drill\.overdueAfterDays must be an integer 1-7, got 8\. CloudWatch evaluates at most 7 days/,
      /^memoryMiB 1000 is not valid with cpu 1024: Fargate accepts 2048-8192 MiB/,
    ];
    for (const e of expected) expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(e)]));
    expect(problems).toHaveLength(expected.length);
  });

  test('the error message lists all problems and says where the configuration lives', () => {
    expect(() => parseProjectConfig({})).toThrow(
      /cdk\.json "context" \(or -c\): 3 problems:\n {2}- project is required[\s\S]* {2}- vpc is required[\s\S]* {2}- databases must be a non-empty list/,
    );
  });

  test('-c values arrive as strings: objects, lists and numbers are read as JSON; strings stay strings', () => {
    const ctx = exampleContext();
    const overrides: Record<string, string> = {
      staggerMinutes: '10',
      drill: '{"enabled": false}',
      alarmEmail: 'oncall@example.com',
      databases: JSON.stringify([
        { name: 'app', secret: 'app/postgres' },
        { name: 'audit', secret: 'audit/postgres', sslMode: 'verify-full' },
      ]),
    };
    const config = loadProjectConfig({ ...ctx, ...overrides });
    expect(config.drill.enabled).toBe(false);
    expect(config.alarmEmail).toBe('oncall@example.com');
    expect(config.databases.map((d) => [d.name, d.schedule, d.sslMode])).toEqual([
      ['app', 'cron(0 4 * * ? *)', undefined], // DatabaseConnection's default, require
      ['audit', 'cron(10 4 * * ? *)', 'verify-full'],
    ]);
  });

  test('invalid JSON in a -c value is a problem, reported with the others', () => {
    const ctx = exampleContext();
    expect(() => loadProjectConfig({ ...ctx, drill: '{enabled: false', cpu: '3' })).toThrow(
      /2 problems[\s\S]*drill: '\{enabled: false' is not valid JSON[\s\S]*cpu must be an integer 256-16384, got 3/,
    );
  });

  test('staggered starts roll over into later hours, as 20 databases 30 minutes apart need; bucket settings beside an existing bucket are refused', () => {
    const ctx = exampleContext();
    const databases = Array.from({ length: 20 }, (_, i) => ({ name: `db${i}`, secret: `db${i}/postgres` }));
    const config = parseProjectConfig({ ...ctx, staggerMinutes: 30, databases });
    expect(config.databases.map((d) => d.schedule).slice(0, 3)).toEqual(['cron(0 4 * * ? *)', 'cron(30 4 * * ? *)', 'cron(0 5 * * ? *)']);
    expect(config.databases[19].schedule).toBe('cron(30 13 * * ? *)');
    expect(problemsOf({ ...ctx, existingBucket: { name: 'my-backups' } })).toEqual([
      expect.stringMatching(/^retention configure a bucket the stack creates, but existingBucket is set/),
    ]);
  });

  test('staggering moves a schedule as a person would, and says when it cannot', () => {
    const move = (schedule: string, minutes: number) => {
      const problems: string[] = [];
      const moved = staggered(schedule, minutes, problems, 3);
      return problems.length > 0 ? problems : moved;
    };
    expect(move('cron(0 4 * * ? *)', 45)).toBe('cron(45 4 * * ? *)');
    expect(move('cron(0 22 * * ? *)', 180)).toBe('cron(0 1 * * ? *)'); // still daily, at the later time
    expect(move('cron(0 23 ? * MON *)', 90)).toBe('cron(30 0 ? * TUE *)');
    expect(move('cron(30 23 ? * SAT,3 *)', 60)).toBe('cron(30 0 ? * SUN,WED *)');
    expect(move('cron(0 23 1 * ? *)', 120)).toBe('cron(0 1 2 * ? *)');
    expect(move('cron(0 4 ? * MON *)', 7 * 24 * 60)).toBe('cron(0 4 ? * MON *)');
    expect(move('cron(50 */6 * * ? *)', 5)).toBe('cron(55 */6 * * ? *)');
    expect(move('cron(50 */6 * * ? *)', 20)).toEqual([
      expect.stringMatching(/hour field '\*\/6' is not a plain number\. Give databases\[3\]\.schedule instead\./),
    ]);
    expect(move('cron(0 23 ? * MON-FRI *)', 120)).toEqual([expect.stringMatching(/day-of-week field 'MON-FRI' is not a list of days/)]);
    expect(move('cron(0 23 28 * ? *)', 120)).toEqual([
      expect.stringMatching(/day of the month '28' cannot move 1 day\(s\) in every month/),
    ]);
    expect(move('rate(1 day)', 10)).toEqual([expect.stringMatching(/minute field is a plain number/)]);
  });

  test('synth says when each database is backed up', () => {
    const annotations = Annotations.fromStack(buildApp(new App({ context: exampleContext() })).stack);
    annotations.hasInfo('/PgS3Backup-orders/DatabaseOrdersStack/DatabaseOrders', 'orders is backed up on cron(0 4 * * ? *) (UTC).');
    annotations.hasInfo('/PgS3Backup-orders/DatabaseBillingStack/DatabaseBilling', 'billing is backed up on cron(30 4 * * ? *) (UTC).');
  });
});

// Issue 23, item 10: a misspelt key used to be read as "not set", so `alarmEmial` synthesized a
// stack whose alerts reach nobody. Every key the app does not read is refused, with the key
// it most likely meant; the keys CDK itself owns are left to CDK.
describe('unknown configuration keys', () => {
  /** The committed example with `alarmEmail` and `retention` given under the names the issue found. */
  function misspeltContext(): Record<string, unknown> {
    const { alarmEmail, retention, ...rest } = exampleContext();
    return { ...rest, alarmEmial: alarmEmail, retension: retention };
  }

  test('alarmEmial and retension are refused when the app is built, together, each with the key it meant', () => {
    expect(() => buildApp(new App({ context: misspeltContext() }))).toThrow(
      /2 problems:\n {2}- alarmEmial is not a known key: did you mean 'alarmEmail'\?\n {2}- retension is not a known key: did you mean 'retention'\?$/,
    );
    expect(problemsOf(misspeltContext())).toEqual([
      "alarmEmial is not a known key: did you mean 'alarmEmail'?",
      "retension is not a known key: did you mean 'retention'?",
    ]);
  });

  test('given with -c, a misspelt key is refused too', () => {
    expect(() => loadProjectConfig({ ...exampleContext(), staggerMinute: '10' })).toThrow(
      /staggerMinute is not a known key: did you mean 'staggerMinutes'\?/,
    );
  });

  test('the suggestion ignores case and completes a shortened key; with nothing close, the known keys are listed', () => {
    const ctx = exampleContext();
    expect(problemsOf({ ...ctx, AlarmEmail: 'oncall@example.com' })).toEqual(["AlarmEmail is not a known key: did you mean 'alarmEmail'?"]);
    expect(problemsOf({ ...ctx, memory: 4096 })).toEqual(["memory is not a known key: did you mean 'memoryMiB'?"]);
    expect(problemsOf({ ...ctx, colour: 'blue' })).toEqual([
      expect.stringMatching(/^colour is not a known key\. Known keys: project, account, region, vpc, databases, .*, drill, restoreTask\. /),
    ]);
  });

  test('a misspelt key inside an object setting is refused with its dotted path', () => {
    const ctx = exampleContext();
    const problems = problemsOf({
      ...ctx,
      vpc: { ...(ctx.vpc as object), subnetIds: ['subnet-0123456789abcdef0'] },
      retention: { dailyDay: 35, weeklyDays: 84 },
      transition: { storageClass: 'GLACIER_IR', after_days: 30 },
      objectLock: { mode: 'governance', days: 30, Mode: 'compliance' },
      drill: { enabled: true, memory: 4096 },
      restoreTask: { enabled: true, ephemeralStorage: 100 },
    });
    const expected = [
      /^vpc\.subnetIds is not a known key\. Known keys of vpc: vpcId, availabilityZones, privateSubnetIds\.$/,
      /^retention\.dailyDay is not a known key: did you mean 'retention\.dailyDays'\?$/,
      /^transition\.after_days is not a known key: did you mean 'transition\.afterDays'\?$/,
      /^objectLock\.Mode is not a known key: did you mean 'objectLock\.mode'\?$/,
      /^drill\.memory is not a known key: did you mean 'drill\.memoryMiB'\?$/,
      /^restoreTask\.ephemeralStorage is not a known key: did you mean 'restoreTask\.ephemeralStorageGiB'\?$/,
    ];
    for (const e of expected) expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(e)]));
    expect(problems).toHaveLength(expected.length);

    const { retention: _retention, ...withoutRetention } = ctx;
    expect(
      problemsOf({ ...withoutRetention, existingBucket: { name: 'my-backups', kmsKeyArm: 'arn:aws:kms:eu-west-1:111122223333:key/x' } }),
    ).toEqual(["existingBucket.kmsKeyArm is not a known key: did you mean 'existingBucket.kmsKeyArn'?"]);
  });

  /** Context keys CDK itself writes or reads, as `cdk init`, the CLI and cdk.context.json hold them. */
  function cdkOwnedContext(): Record<string, unknown> {
    return {
      // What `cdk init` writes into a new project's cdk.json.
      ...cxapi.NEW_PROJECT_DEFAULT_CONTEXT,
      ...cxapi.CURRENTLY_RECOMMENDED_FLAGS,
      '@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver': true,
      'aws-cdk:enableDiffNoFail': true,
      // Settings of aws-cdk-lib that are not feature flags.
      '@aws-cdk/core:bootstrapQualifier': 'hnb659fds',
      '@aws-cdk/core.slowSynthThreshold': 600,
      'assets-ecr-repository-name': 'cdk-assets',
      // What the CLI adds to every synth (seen with aws-cdk 2.1148), and what its commands record.
      'aws:cdk:enable-path-metadata': true,
      'aws:cdk:bundling-stacks': ['**'],
      'acknowledged-issue-numbers': [32775],
      'cli-telemetry': false,
      'cdk-migrate': true,
      // cdk.context.json lookups.
      'availability-zones:account=111122223333:region=eu-west-1': ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
      'ssm:account=111122223333:parameterName=/cdk-bootstrap/hnb659fds/version:region=eu-west-1': '27',
    };
  }

  test("CDK's own keys (feature flags, its settings, cdk.context.json lookups) are accepted", () => {
    expect(problemsOf({ ...exampleContext(), ...cdkOwnedContext() })).toEqual([]);
    const { stack } = buildApp(new App({ context: { ...exampleContext(), ...cdkOwnedContext() } }));
    // …and none of them is taken for a misspelt feature flag.
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('is not a feature flag'))).toEqual([]);
  });

  test('lookups and what the CLI records change nothing in the template', () => {
    const recorded = {
      'availability-zones:account=111122223333:region=eu-west-1': ['eu-west-1a', 'eu-west-1b'],
      'acknowledged-issue-numbers': [32775],
      'cli-telemetry': false,
    };
    const plain = Template.fromJSON(appTemplate(buildApp(new App({ context: exampleContext() })).stack));
    const withRecorded = Template.fromJSON(appTemplate(buildApp(new App({ context: { ...exampleContext(), ...recorded } })).stack));
    expect(withRecorded.toJSON()).toEqual(plain.toJSON());
  });

  test('a near miss of a CDK feature flag, which CDK would ignore, is a warning naming the flag', () => {
    const { stack } = buildApp(
      new App({
        context: {
          ...exampleContext(),
          '@aws-cdk/aws-iam:minimisePolicies': true,
          '@aws-cdk/aws-ecs:removeDefaultDeploymentAlarm': true,
          '@aws-cdk/core:bootstrapQualifier': 'hnb659fds',
        },
      }),
    );
    const annotations = Annotations.fromStack(stack);
    annotations.hasWarning(
      '/PgS3Backup-orders',
      Match.stringLikeRegexp(
        "^'@aws-cdk/aws-iam:minimisePolicies' is not a feature flag of aws-cdk-lib .*: did you mean '@aws-cdk/aws-iam:minimizePolicies'\\?",
      ),
    );
    // A real flag, and a CDK setting that is not a flag, are no one's typo.
    expect(annotations.findWarning('*', Match.stringLikeRegexp('is not a feature flag'))).toHaveLength(1);
  });
});
