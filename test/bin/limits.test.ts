/**
 * What CloudFormation and the services refuse at deploy time and synth does not check: the
 * resources, outputs and parameters of each template, its size, and the size of every policy
 * document and dashboard it holds. Checked on every real template (the stack and each
 * database's nested stack, as `cdk deploy` uploads them) of the committed example, of every
 * option on, and of a project of 100 databases, which must also pass cdk-nag and the wiring
 * evaluation (test/bin/deploy-wiring.test.ts evaluates the same generated project).
 *
 * The limits, from the services' quota pages: CloudFormation 500 resources, 200 outputs, 200
 * parameters, 1 MB per template (uploaded to S3); an S3 bucket policy 20 KB; an SNS topic policy
 * 30 KB; an SQS queue policy 8 KB, 20 statements, 50 principals; a KMS key policy 32 KB; the
 * inline policies of one IAM role 10,240 characters together, a managed policy 6,144 (IAM counts
 * no whitespace); a dashboard 500 widgets. EventBridge: 300 rules per event bus (a quota per
 * account and region, on the default bus the tasks' state changes go to), counted over all templates.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, NestedStack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../bin/app';
import { MAX_DATABASES } from '../../lib';
import { everyOptionContext, exampleContext, projectOf } from '../support/cdk';
import { cfnSchemaProblems } from '../support/aws/cfn-schema';
import { appTemplate, ResolvedTemplate } from '../support/aws/template';

interface RealTemplate {
  readonly name: string;
  readonly json: Record<string, any>;
}

/**
 * The templates `cdk deploy` would upload for `context` (the stack's and each nested stack's,
 * from the cloud assembly), and the app as one resolved template to measure policies on (ARNs
 * as long as real ones, a nested stack's parameters replaced by what the stack passes).
 */
function deployedTemplates(context: Record<string, unknown>): { templates: RealTemplate[]; app: App; resolved: ResolvedTemplate } {
  const { app, stack } = buildApp(new App({ context }));
  const assembly = app.synth();
  const templates: RealTemplate[] = [{ name: stack.stackName, json: assembly.getStackArtifact(stack.artifactId).template }];
  for (const nested of stack.node.findAll().filter((c): c is NestedStack => c instanceof NestedStack)) {
    templates.push({ name: nested.node.path, json: JSON.parse(readFileSync(join(assembly.directory, nested.templateFile), 'utf8')) });
  }
  return { templates, app, resolved: new ResolvedTemplate(appTemplate(stack)) };
}

/** IAM's measure: the policy as JSON without whitespace. */
const iamSize = (doc: unknown) => JSON.stringify(doc).replace(/\s/g, '').length;
const bytes = (doc: unknown) => Buffer.byteLength(JSON.stringify(doc));

/** Every limit template `t` breaks, in words; [] when none. Its policies are measured resolved, in `app`. */
function limitProblems(t: RealTemplate, app: ResolvedTemplate): string[] {
  const problems: string[] = [];
  const count = (what: string, n: number, max: number) => n > max && problems.push(`${t.name}: ${n} ${what} (at most ${max})`);
  count('resources', Object.keys(t.json.Resources ?? {}).length, 500);
  count('outputs', Object.keys(t.json.Outputs ?? {}).length, 200);
  count('parameters', Object.keys(t.json.Parameters ?? {}).length, 200);
  count('bytes of template', bytes(t.json), 1_000_000);
  const ids = Object.keys(t.json.Resources ?? {});
  for (const id of ids) {
    const res = app.resources[id];
    const p = res.Properties ?? {};
    const at = `${t.name}/${id}`;
    if (res.Type === 'AWS::S3::BucketPolicy') count(`bytes in ${at}`, bytes(app.resolve(p.PolicyDocument)), 20 * 1024);
    if (res.Type === 'AWS::SNS::TopicPolicy') count(`bytes in ${at}`, bytes(app.resolve(p.PolicyDocument)), 30 * 1024);
    if (res.Type === 'AWS::KMS::Key') count(`bytes in the key policy of ${at}`, bytes(app.resolve(p.KeyPolicy)), 32 * 1024);
    if (res.Type === 'AWS::IAM::ManagedPolicy') count(`characters in ${at}`, iamSize(app.resolve(p.PolicyDocument)), 6144);
    if (res.Type === 'AWS::SQS::QueuePolicy') {
      const doc = app.resolve(p.PolicyDocument) as { Statement: Array<{ Principal?: Record<string, unknown> }> };
      count(`bytes in ${at}`, bytes(doc), 8192);
      count(`statements in ${at}`, doc.Statement.length, 20);
      count(`principals in ${at}`, doc.Statement.flatMap((s) => Object.values(s.Principal ?? {}).flat()).length, 50);
    }
    if (res.Type === 'AWS::CloudWatch::Dashboard') {
      const body = JSON.parse(app.string(p.DashboardBody)) as { widgets: unknown[] };
      count(`widgets in ${at}`, body.widgets.length, 500);
    }
  }
  // The inline policies of a role, together: every AWS::IAM::Policy attached to it (and its own).
  const perRole = new Map<string, number>();
  for (const id of ids) {
    const res = app.resources[id];
    if (res.Type === 'AWS::IAM::Role')
      perRole.set(
        id,
        (res.Properties?.Policies ?? []).reduce(
          (n: number, x: { PolicyDocument: unknown }) => n + iamSize(app.resolve(x.PolicyDocument)),
          0,
        ),
      );
  }
  for (const id of ids) {
    const res = app.resources[id];
    if (res.Type !== 'AWS::IAM::Policy') continue;
    for (const role of res.Properties!.Roles ?? []) {
      const roleId = app.referenced(role) ?? JSON.stringify(role);
      perRole.set(roleId, (perRole.get(roleId) ?? 0) + iamSize(app.resolve(res.Properties!.PolicyDocument)));
    }
  }
  for (const [role, size] of perRole) count(`characters of inline policy on ${role}`, size, 10_240);
  return problems;
}

/** EventBridge rules of every template together (they all land on the account's default bus). */
const ruleCount = (templates: RealTemplate[]) =>
  templates.reduce((n, t) => n + Object.values(t.json.Resources ?? {}).filter((r: any) => r.Type === 'AWS::Events::Rule').length, 0);

describe('every template stays within what CloudFormation and the services accept', () => {
  test.each([
    ['the committed cdk.json', exampleContext()],
    ['every option on', everyOptionContext()],
    ['a project of 100 databases', projectOf(100)],
  ])('%s', (_what, context) => {
    const { templates, resolved } = deployedTemplates(context);
    expect(templates.length).toBe((context.databases as unknown[]).length + 1);
    expect(templates.flatMap((t) => limitProblems(t, resolved))).toEqual([]);
    // And each real template, parameters and nested stack resources as uploaded, against the registry schemas.
    expect(templates.flatMap((t) => cfnSchemaProblems(t.json).map((p) => `${t.name}: ${p}`))).toEqual([]);
  });

  test('the measure sees a breach: 200 more statements in the bucket policy of a 100-database project are reported', () => {
    const { templates, resolved } = deployedTemplates(projectOf(100));
    const [, policy] = resolved
      .ofType('AWS::S3::BucketPolicy')
      .find(([, r]) => !String(resolved.referenced(r.Properties!.Bucket)).startsWith('AccessLogs'))!;
    const statements = policy.Properties!.PolicyDocument.Statement as unknown[];
    statements.push(...Array.from({ length: 200 }, (_, i) => ({ ...(statements[0] as object), Sid: `Padding${i}` })));
    expect(limitProblems(templates[0], resolved).join('\n')).toMatch(/bytes in .*BucketPolicy.* \(at most 20480\)/);
  });
});

describe(`a project of ${MAX_DATABASES} databases, the most one stack takes`, () => {
  test('synthesizes, passes cdk-nag, and stays within every limit; one more is refused at synth with the reason', () => {
    const { templates, app, resolved } = deployedTemplates(projectOf(MAX_DATABASES));
    expect(templates.flatMap((t) => limitProblems(t, resolved))).toEqual([]);
    // EventBridge's default quota of 300 rules per event bus, which the account's other rules share.
    expect(ruleCount(templates)).toBeLessThanOrEqual(300);
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations).toEqual([]);
    expect(() => buildApp(new App({ context: projectOf(MAX_DATABASES + 1) }))).toThrow(
      new RegExp(`databases: ${MAX_DATABASES + 1} databases.*at most ${MAX_DATABASES}.*500 per dashboard`),
    );
  });
});
