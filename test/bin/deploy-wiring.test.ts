/**
 * The synthesized app evaluated as AWS would evaluate it, not read back as we wrote it:
 * - every resource against the CloudFormation registry schemas (`@aws-cdk/aws-service-spec`);
 * - every policy document with `@cloud-copilot/iam-policy`'s validators, by the kind of policy it is;
 * - every path by which an AWS service acts for the stack (alarm → topic, rule → topic,
 *   schedule → RunTask/PassRole/dead letters, task start → secrets/keys/images/logs, access
 *   logs), found by walking the template and decided by `@cloud-copilot/iam-simulate`.
 * Both the committed cdk.json and a configuration with every option on.
 */
import { appTemplate } from '../support/aws/template';
import { App } from 'aws-cdk-lib';
import { validateIdentityPolicy, validateResourcePolicy, validateTrustPolicy } from '@cloud-copilot/iam-policy';
import { buildApp } from '../../bin/app';
import { loadProjectConfig } from '../../lib';
import { everyOptionContext, exampleContext, SECRET_KEY_ARN } from '../support/cdk';
import { cfnSchemaProblems } from '../support/aws/cfn-schema';
import { decide, decisions } from '../support/aws/iam';
import { servicePaths } from '../support/aws/service-paths';
import { ResolvedTemplate } from '../support/aws/template';

function synthesize(context: Record<string, unknown>): {
  json: Record<string, any>;
  keyOfImportedSecret: (arn: string) => string | undefined;
} {
  const app = new App({ context });
  const { stack } = buildApp(app);
  // What the configuration says encrypts each imported secret (AWS knows it from the secret itself).
  const config = loadProjectConfig(app.node.getAllContext());
  const keyOfImportedSecret = (arn: string) =>
    config.databases.find((d) => (d.secret.startsWith('arn:') ? arn === d.secret : arn.endsWith(`:secret:${d.secret}`)))?.secretKmsKeyArn;
  return { json: appTemplate(stack), keyOfImportedSecret };
}

const APPS: Array<[string, () => Record<string, unknown>]> = [
  ['the committed cdk.json', exampleContext],
  ['every option on (Object Lock, bucket key, transition, ARM64, rds! and customer-key secrets)', everyOptionContext],
];

describe.each(APPS)('%s', (_, context) => {
  const { json, keyOfImportedSecret } = synthesize(context());
  const t = new ResolvedTemplate(json);

  test('every resource validates against the CloudFormation registry schemas', () => {
    expect(cfnSchemaProblems(json)).toEqual([]);
  });

  test('every policy document is valid for its kind (identity, resource, trust, key policy)', () => {
    const problems: string[] = [];
    const check = (where: string, errors: unknown[]) => errors.length && problems.push(`${where}: ${JSON.stringify(errors)}`);
    let checked = 0;
    for (const [id, r] of Object.entries(t.resources)) {
      const p = r.Properties ?? {};
      const docs: Array<[string, unknown, (d: unknown) => unknown[]]> = [];
      if (r.Type === 'AWS::IAM::Role') docs.push(['AssumeRolePolicyDocument', p.AssumeRolePolicyDocument, validateTrustPolicy]);
      if (r.Type === 'AWS::IAM::Policy') docs.push(['PolicyDocument', p.PolicyDocument, validateIdentityPolicy]);
      if (['AWS::S3::BucketPolicy', 'AWS::SNS::TopicPolicy', 'AWS::SQS::QueuePolicy'].includes(r.Type))
        docs.push(['PolicyDocument', p.PolicyDocument, validateResourcePolicy]);
      if (r.Type === 'AWS::KMS::Key') docs.push(['KeyPolicy', p.KeyPolicy, validateResourcePolicy]);
      for (const [prop, doc, validate] of docs) {
        checked++;
        check(`${id}.${prop}`, validate(t.resolve(doc)));
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });

  const paths = servicePaths(t, { keyOfImportedSecret });

  test('the walk finds paths of every kind', () => {
    for (const kind of ['alarm', 'rule', 'schedule', 'task', 'access-logs'] as const)
      expect({ kind, n: paths.counts[kind] > 0 }).toEqual({ kind, n: true });
  });

  test('nothing on a service path is out of reach whatever the policies (public images, unusable keys)', () => {
    expect(paths.problems).toEqual([]);
  });

  test('no chat channel can do more from the chat than read CloudWatch (channel role and guardrail each refuse the rest)', async () => {
    const allowed = (await decisions(paths.forbidden)).filter((d) => !d.endsWith(': ImplicitlyDenied'));
    expect(allowed).toEqual([]);
  });

  test('every service path is allowed: alarms and rules publish, schedules run tasks, tasks start', async () => {
    const denied = (await decisions(paths.authorizations)).filter((d) => !d.endsWith(': Allowed'));
    expect(denied).toEqual([]);
    // The paths the issue was about are among them.
    const described = paths.authorizations.map((a) => a.description).join('\n');
    expect(described).toMatch(/alarm .*MissedBackupAlarm.*: cloudwatch\.amazonaws\.com publishes to/);
    expect(described).toMatch(/alarm .*DrillOverdueAlarm.*: cloudwatch\.amazonaws\.com uses .* to publish/);
    expect(described).toMatch(/container postgres: pulls cdk-hnb659fds-container-assets/);
  });
});

describe('every option on: Slack, Teams and webhooks on the alert topic', () => {
  const { json, keyOfImportedSecret } = synthesize(everyOptionContext());
  const t = new ResolvedTemplate(json);
  const paths = servicePaths(t, { keyOfImportedSecret });

  test('both chat channels and every subscription are walked', () => {
    expect(paths.counts).toMatchObject({ chat: 2, subscription: 3 }); // e-mail and two webhooks
    expect(paths.forbidden.length).toBeGreaterThan(0);
  });

  test('the subscriptions can be made and Chatbot can act: subscribe, assume the channel role, read the alarm', async () => {
    const chatAndSubscriptions = paths.authorizations.filter((a) => /^(chat channel|subscription) /.test(a.description));
    const described = chatAndSubscriptions.map((a) => a.description).join('\n');
    expect(described).toMatch(
      /chat channel AlertsSlackChannel\w*: the deploying role subscribes https https:\/\/global\.sns-api\.chatbot\.amazonaws\.com to AlertsTopic/,
    );
    expect(described).toMatch(/chat channel AlertsTeamsChannel\w*: chatbot\.amazonaws\.com assumes AlertsChatChannelRole/);
    expect(described).toMatch(
      /chat channel AlertsTeamsChannel\w*: guardrail .*ChatGuardrailPolicy.* lets Chatbot read cloudwatch:DescribeAlarms/,
    );
    expect(described).toMatch(/subscription AlertsWebhook1\w*: the deploying role subscribes https/);
    expect((await decisions(chatAndSubscriptions)).filter((d) => !d.endsWith(': Allowed'))).toEqual([]);
  });
});

describe('every option on: the secrets with a customer-managed key', () => {
  const { json, keyOfImportedSecret } = synthesize(everyOptionContext());
  const t = new ResolvedTemplate(json);
  const decrypts = servicePaths(t, { keyOfImportedSecret }).authorizations.filter(
    (a) => a.action === 'kms:Decrypt' && a.resource === SECRET_KEY_ARN,
  );

  test('are decrypted at task start by the backup tasks of both databases that use one, through Secrets Manager only', async () => {
    // ledger (rds! ARN) and audit (by name): one backup task each; their drills and restores read no database secret.
    expect(new Set(decrypts.map((d) => d.description.replace(/ container .*/, ''))).size).toBe(2);
    for (const d of decrypts) {
      expect(await decide(d)).toBe('Allowed');
      expect(await decide({ ...d, context: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } })).toBe('ImplicitlyDenied');
    }
  });
});

/**
 * The checks above must be able to fail. Each case breaks the template the way the defect it
 * guards would, and the check must then report it.
 */
describe('the checks catch the defects they guard', () => {
  const { json, keyOfImportedSecret } = synthesize(exampleContext());
  const mutate = (change: (copy: Record<string, any>) => void) => {
    const copy = structuredClone(json);
    change(copy);
    return new ResolvedTemplate(copy);
  };
  const notAllowed = async (t: ResolvedTemplate, match: RegExp) =>
    (await decisions(servicePaths(t, { keyOfImportedSecret }).authorizations.filter((a) => match.test(a.description)))).filter(
      (d) => !d.endsWith(': Allowed'),
    );

  test('a topic policy without the CloudWatch allow: every alarm path is denied', async () => {
    const t = mutate((c) => {
      for (const r of Object.values<any>(c.Resources))
        if (r.Type === 'AWS::SNS::TopicPolicy')
          r.Properties.PolicyDocument.Statement = r.Properties.PolicyDocument.Statement.filter(
            (s: any) => s.Sid !== 'AllowCloudWatchAlarmsToPublish',
          );
    });
    const denied = await notAllowed(t, /^alarm .*publishes to/);
    expect(denied.length).toBe(servicePaths(t).counts.alarm);
    expect(denied.length).toBeGreaterThan(0);
  });

  test('a key policy without CloudWatch: alarms cannot use the topic key', async () => {
    const t = mutate((c) => {
      for (const r of Object.values<any>(c.Resources))
        if (r.Type === 'AWS::KMS::Key')
          r.Properties.KeyPolicy.Statement = r.Properties.KeyPolicy.Statement.filter(
            (s: any) => s.Principal?.Service !== 'cloudwatch.amazonaws.com',
          );
    });
    expect((await notAllowed(t, /^alarm .* uses /)).length).toBeGreaterThan(0);
  });

  test('a drill server from a public registry is reported', () => {
    const t = mutate((c) => {
      for (const r of Object.values<any>(c.Resources))
        for (const cd of r.Type === 'AWS::ECS::TaskDefinition' ? r.Properties.ContainerDefinitions : [])
          if (cd.Name === 'postgres') cd.Image = 'public.ecr.aws/docker/library/postgres:18';
    });
    expect(servicePaths(t).problems).toEqual([
      expect.stringMatching(/container postgres pulls public\.ecr\.aws\/docker\/library\/postgres:18: not a private ECR repository/),
      expect.stringMatching(/container postgres pulls public\.ecr\.aws/),
    ]);
  });

  test('a schedule role without PassRole for the task role: the schedule path is denied', async () => {
    const t = mutate((c) => {
      for (const r of Object.values<any>(c.Resources))
        if (r.Type === 'AWS::IAM::Policy')
          r.Properties.PolicyDocument.Statement = r.Properties.PolicyDocument.Statement.filter((s: any) => s.Action !== 'iam:PassRole');
    });
    expect((await notAllowed(t, /^schedule .* passes /)).length).toBe(2 * servicePaths(t).counts.schedule);
  });

  describe('with chat channels and webhooks', () => {
    const every = synthesize(everyOptionContext()).json;
    const change = (edit: (copy: Record<string, any>) => void) => {
      const copy = structuredClone(every);
      edit(copy);
      return servicePaths(new ResolvedTemplate(copy), {});
    };
    const resourcesOf = (c: Record<string, any>, type: string) => Object.values<any>(c.Resources).filter((r) => r.Type === type);

    test('a topic policy that refuses https subscriptions: the chat and webhook subscriptions are denied', async () => {
      const paths = change((c) => {
        for (const r of resourcesOf(c, 'AWS::SNS::TopicPolicy'))
          r.Properties.PolicyDocument.Statement.push({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'sns:Subscribe',
            Resource: '*',
            Condition: { StringEquals: { 'sns:Protocol': 'https' } },
          });
      });
      const denied = (await decisions(paths.authorizations.filter((a) => a.action === 'sns:Subscribe'))).filter(
        (d) => !d.endsWith(': Allowed'),
      );
      expect(denied).toEqual([
        expect.stringMatching(/^chat channel AlertsSlackChannel.*ExplicitlyDenied$/),
        expect.stringMatching(/^chat channel AlertsTeamsChannel.*ExplicitlyDenied$/),
        expect.stringMatching(/^subscription AlertsWebhook0.*ExplicitlyDenied$/),
        expect.stringMatching(/^subscription AlertsWebhook1.*ExplicitlyDenied$/),
      ]);
    });

    test('a channel role or a guardrail that allows more than CloudWatch reads is caught, each on its own', async () => {
      for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
        const paths = change((c) => {
          for (const r of resourcesOf(c, type))
            for (const st of r.Properties.PolicyDocument.Statement)
              if (JSON.stringify(st.Action).includes('cloudwatch:Describe*')) st.Action = ['cloudwatch:*', 's3:GetObject'];
        });
        const allowed = (await decisions(paths.forbidden)).filter((d) => d.endsWith(': Allowed'));
        expect(allowed).toEqual(expect.arrayContaining([expect.stringMatching(/cloudwatch:DeleteAlarms: Allowed$/)]));
        expect(allowed).toEqual(expect.arrayContaining([expect.stringMatching(/s3:GetObject: Allowed$/)]));
      }
    });

    test('a missing guardrail, a webhook URL written into the template and an http webhook are reported', () => {
      const paths = change((c) => {
        for (const r of resourcesOf(c, 'AWS::Chatbot::SlackChannelConfiguration')) delete r.Properties.GuardrailPolicies;
        const [first, second] = resourcesOf(c, 'AWS::SNS::Subscription').filter((r) => r.Properties.Protocol === 'https');
        first.Properties.Endpoint = 'https://events.example.com/integration/token/enqueue';
        second.Properties.Protocol = 'http';
      });
      expect(paths.problems).toEqual([
        expect.stringMatching(/^chat channel AlertsSlackChannel.*: no guardrail policy, so AWS applies AdministratorAccess/),
        expect.stringMatching(/^subscription AlertsWebhook0.*: the endpoint is written into the template/),
        expect.stringMatching(/^subscription AlertsWebhook1.*: protocol http; webhooks must use https/),
      ]);
    });
  });

  test('an unknown property and a wrong enum are schema problems', () => {
    const copy = structuredClone(json);
    const [, schedule] = Object.entries<any>(copy.Resources).find(([, r]) => r.Type === 'AWS::Scheduler::Schedule')!;
    schedule.Properties.State = 'PAUSED';
    schedule.Properties.Target.EcsParameters.Launchtype = 'FARGATE';
    expect(cfnSchemaProblems(copy)).toEqual([expect.stringMatching(/State/), expect.stringMatching(/Launchtype/)]);
  });
});
