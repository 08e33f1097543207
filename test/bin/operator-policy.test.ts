/**
 * The read-only policy for operators in docs/deploy.md (for a bucket outside the stack) is the one the
 * stack synthesizes as OperatorReadOnlyPolicy, whose requests cli-requests.test.ts evaluates.
 */
import { appTemplate } from '../support/aws/template';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../../bin/app';
import { exampleContext } from '../support/cdk';
import { ResolvedTemplate } from '../support/aws/template';

function documentedPolicy(): unknown {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'deploy.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Read-only credentials'));
  const block = /```json\n([\s\S]*?)```/.exec(section)![1];
  return JSON.parse(block);
}

function synthesized(context: Record<string, unknown>): { template: Template; policy: unknown } {
  delete context.retention; // a setting of a bucket the stack creates
  const template = Template.fromJSON(appTemplate(buildApp(new App({ context })).stack));
  const t = new ResolvedTemplate(template.toJSON());
  const [[, policy]] = t.ofType('AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith('OperatorReadOnlyPolicy'));
  return { template, policy: t.resolve(policy.Properties!.PolicyDocument) };
}

test("docs/deploy.md's policy is what the stack synthesizes for bucket my-backups and prefix myapp", () => {
  const { policy, template } = synthesized({ ...exampleContext(), prefix: 'myapp', existingBucket: { name: 'my-backups' } });
  expect(documentedPolicy()).toEqual(policy);
  template.hasOutput('OperatorReadOnlyPolicyArn', { Value: { Ref: Match.stringLikeRegexp('^OperatorReadOnlyPolicy') } });
});

test('databases under several prefixes are all readable, each once', () => {
  const ctx = exampleContext() as { databases: Array<Record<string, unknown>> };
  const { policy } = synthesized({
    ...ctx,
    existingBucket: { name: 'my-backups' },
    databases: [...ctx.databases, { name: 'ledger', secret: 'ledger/db', prefix: 'finance', schedule: 'cron(0 5 * * ? *)' }],
  });
  const statements = (policy as { Statement: Array<Record<string, any>> }).Statement;
  expect(statements.find((s) => s.Sid === 'ListBackups')!.Condition).toEqual({ StringLike: { 's3:prefix': ['orders/*', 'finance/*'] } });
  expect(statements.find((s) => s.Sid === 'ReadBackups')!.Resource).toEqual([
    'arn:aws:s3:::my-backups/orders/*',
    'arn:aws:s3:::my-backups/finance/*',
  ]);
});
