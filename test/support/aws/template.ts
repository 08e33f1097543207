/**
 * A synthesized CloudFormation template as AWS would see it after deployment: every
 * intrinsic function (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, …) resolved to the
 * concrete names and ARNs CloudFormation would give, in one fixed account and region, so
 * that policies can be handed to a policy evaluator exactly as IAM, S3, SNS and KMS hold them.
 *
 * Physical names are made up from logical IDs, consistently: a role's `Fn::GetAtt Arn` and
 * the session ARN of a task running as that role name the same role. A `Ref` or attribute of
 * a resource type this table does not know throws, so a new kind of resource cannot be
 * evaluated by accident with a wrong value.
 */

import { CfnElement, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Authorization } from './iam';

export const ACCOUNT = '111122223333';
export const REGION = 'eu-west-1';
export const PARTITION = 'aws';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
}

const PSEUDO: Record<string, string> = {
  'AWS::AccountId': ACCOUNT,
  'AWS::Region': REGION,
  'AWS::Partition': PARTITION,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'TestStack',
  'AWS::StackId': `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/TestStack/00000000-0000-0000-0000-000000000000`,
};

/** What `Ref` and `Fn::GetAtt` give for each resource type the stack uses. */
const ATTRIBUTES: Record<string, (id: string, p: Record<string, any>, name: (v: unknown) => string) => Record<string, string>> = {
  'AWS::S3::Bucket': (id, p, n) => {
    const bucket = p.BucketName ? n(p.BucketName) : id.toLowerCase();
    return { Ref: bucket, Arn: `arn:aws:s3:::${bucket}`, DomainName: `${bucket}.s3.amazonaws.com` };
  },
  'AWS::IAM::Role': (id, p, n) => {
    const role = p.RoleName ? n(p.RoleName) : id;
    const path = p.Path ? n(p.Path) : '/';
    return { Ref: role, Arn: `arn:aws:iam::${ACCOUNT}:role${path}${role}`, RoleId: `AROA${id.toUpperCase().slice(0, 16)}` };
  },
  'AWS::SNS::Topic': (id) => ({ Ref: `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`, TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:${id}` }),
  'AWS::KMS::Key': (id) => ({ Ref: `key-${id}`, Arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/key-${id}`, KeyId: `key-${id}` }),
  'AWS::SQS::Queue': (id) => ({
    Ref: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`,
    Arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${id}`,
    QueueName: id,
  }),
  'AWS::Logs::LogGroup': (id, p, n) => {
    const group = p.LogGroupName ? n(p.LogGroupName) : id;
    return { Ref: group, Arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${group}:*` };
  },
  'AWS::ECS::Cluster': (id) => ({ Ref: id, Arn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${id}` }),
  'AWS::ECS::TaskDefinition': (id, p, n) => ({
    Ref: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${p.Family ? n(p.Family) : id}:1`,
    TaskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${p.Family ? n(p.Family) : id}:1`,
  }),
  'AWS::SecretsManager::Secret': (id) => ({ Ref: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-AbCdEf` }),
  'AWS::CloudWatch::Alarm': (id) => ({ Ref: id, Arn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${id}` }),
  'AWS::Events::Rule': (id) => ({ Ref: id, Arn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${id}` }),
  'AWS::Scheduler::Schedule': (id) => ({ Ref: id, Arn: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/${id}` }),
  'AWS::EC2::SecurityGroup': (id) => ({ Ref: `sg-${id.toLowerCase().slice(0, 17)}`, GroupId: `sg-${id.toLowerCase().slice(0, 17)}` }),
  'AWS::CloudWatch::Dashboard': (id) => ({ Ref: id }),
  'AWS::IAM::ManagedPolicy': (id, p, n) => ({
    Ref: `arn:aws:iam::${ACCOUNT}:policy${p.Path ? n(p.Path) : '/'}${p.ManagedPolicyName ? n(p.ManagedPolicyName) : id}`,
  }),
  'AWS::SNS::Subscription': (id) => ({ Ref: `arn:aws:sns:${REGION}:${ACCOUNT}:subscription-of-${id}` }),
  'AWS::Chatbot::SlackChannelConfiguration': (_, p, n) => ({
    Ref: `arn:aws:chatbot::${ACCOUNT}:chat-configuration/slack-channel/${n(p.ConfigurationName)}`,
    Arn: `arn:aws:chatbot::${ACCOUNT}:chat-configuration/slack-channel/${n(p.ConfigurationName)}`,
  }),
  'AWS::Chatbot::MicrosoftTeamsChannelConfiguration': (_, p, n) => ({
    Ref: `arn:aws:chatbot::${ACCOUNT}:chat-configuration/microsoft-teams-channel/${n(p.ConfigurationName)}`,
    Arn: `arn:aws:chatbot::${ACCOUNT}:chat-configuration/microsoft-teams-channel/${n(p.ConfigurationName)}`,
  }),
  'AWS::CloudFormation::Stack': (id) => ({
    Ref: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/TestStack-${id}/00000000-0000-0000-0000-000000000001`,
  }),
};

/** A template whose values can be resolved, with the lookups the evaluators need. */
export class ResolvedTemplate {
  public readonly resources: Record<string, CfnResource>;

  constructor(public readonly json: Record<string, any>) {
    this.resources = json.Resources ?? {};
  }

  /** The resources of one type, by logical ID. */
  public ofType(type: string): Array<[string, CfnResource]> {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  /** The value of `Ref` or an attribute of a resource. */
  public attribute(logicalId: string, attribute: string): string {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`no resource ${logicalId} in the template`);
    const table = ATTRIBUTES[resource.Type];
    if (!table) throw new Error(`test/support/aws/template.ts does not know the attributes of ${resource.Type} (${logicalId}): add them`);
    const value = table(logicalId, resource.Properties ?? {}, (v) => this.string(v))[attribute];
    if (value === undefined) throw new Error(`test/support/aws/template.ts does not know ${resource.Type}.${attribute} (${logicalId})`);
    return value;
  }

  /** Resolves every intrinsic function in `value`. */
  public resolve(value: unknown): Json {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value as Json;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [fn, arg] = entries[0];
      switch (fn) {
        case 'Ref':
          return PSEUDO[arg as string] ?? this.attribute(arg as string, 'Ref');
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
          return this.attribute(id, attr);
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, unknown[]];
          return (this.resolve(parts) as Json[]).map((p) => this.scalar(p)).join(sep);
        }
        case 'Fn::Sub':
          return this.sub(arg as string | [string, Record<string, unknown>]);
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          return (this.resolve(list) as Json[])[Number(this.resolve(index))];
        }
        case 'Fn::Split': {
          const [sep, source] = arg as [string, unknown];
          return this.string(source).split(sep);
        }
        case 'Fn::GetAZs':
          return [`${REGION}a`, `${REGION}b`, `${REGION}c`];
        default:
          if (fn.startsWith('Fn::') || fn === 'Condition') throw new Error(`test/support/aws/template.ts cannot resolve ${fn}`);
      }
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  /** Resolves `value` and requires a string. */
  public string(value: unknown): string {
    return this.scalar(this.resolve(value));
  }

  /** The logical ID `value` refers to (`Ref` or `Fn::GetAtt`), if it is such a reference. */
  public referenced(value: unknown): string | undefined {
    if (value === null || typeof value !== 'object') return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.Ref === 'string' && !v.Ref.startsWith('AWS::')) return v.Ref;
    const att = v['Fn::GetAtt'];
    if (Array.isArray(att)) return att[0] as string;
    if (typeof att === 'string') return att.split('.')[0];
    return undefined;
  }

  /** The role (logical ID) behind a role ARN value, e.g. a task definition's `TaskRoleArn`. */
  public roleId(value: unknown): string {
    const id = this.referenced(value);
    if (!id || this.resources[id]?.Type !== 'AWS::IAM::Role') throw new Error(`${JSON.stringify(value)} is not a role of this template`);
    return id;
  }

  /** The identity policies of a role: its inline `Policies` and every `AWS::IAM::Policy` attached to it, resolved. */
  public identityPolicies(roleId: string): Array<{ name: string; policy: Json }> {
    const role = this.resources[roleId];
    const inline = ((role.Properties?.Policies ?? []) as Array<{ PolicyName: string; PolicyDocument: unknown }>).map((p) => ({
      name: `${roleId}/${p.PolicyName}`,
      policy: this.resolve(p.PolicyDocument),
    }));
    if ((role.Properties?.ManagedPolicyArns ?? []).length > 0)
      throw new Error(`${roleId} has managed policies, which these tests cannot see`);
    const attached = this.ofType('AWS::IAM::Policy')
      .filter(([, p]) => ((p.Properties?.Roles ?? []) as unknown[]).some((r) => this.referenced(r) === roleId))
      .map(([id, p]) => ({ name: id, policy: this.resolve(p.Properties!.PolicyDocument) }));
    return [...inline, ...attached];
  }

  /** The resolved document of a customer-managed policy of this template, given its ARN value (`Ref`). */
  public managedPolicy(value: unknown): Json {
    const id = this.referenced(value);
    if (!id || this.resources[id]?.Type !== 'AWS::IAM::ManagedPolicy')
      throw new Error(`${JSON.stringify(value)} is not a managed policy of this template (an AWS managed one cannot be evaluated here)`);
    return this.resolve(this.resources[id].Properties!.PolicyDocument);
  }

  /**
   * Who deploys the template: CloudFormation acting as the CDK bootstrap's execution role, which
   * has AdministratorAccess (the bootstrap's default), so only resource policies can refuse it.
   */
  public deployer(): Pick<Authorization, 'principal' | 'principalArn' | 'identityPolicies'> {
    const role = `cdk-hnb659fds-cfn-exec-role-${ACCOUNT}-${REGION}`;
    return {
      principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/AWSCloudFormation`,
      principalArn: `arn:aws:iam::${ACCOUNT}:role/${role}`,
      identityPolicies: [
        { name: 'AdministratorAccess', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } },
      ],
    };
  }

  /** Who a task running as `roleId` is to an evaluator: its session ARN and its role's ARN (path included). */
  public callerOf(roleId: string, session?: string): { principal: string; principalArn: string } {
    return { principal: this.sessionOf(roleId, session), principalArn: this.attribute(roleId, 'Arn') };
  }

  /** The ARN a task running as `roleId` makes requests with. */
  public sessionOf(roleId: string, session = 'task-0123456789abcdef'): string {
    return `arn:aws:sts::${ACCOUNT}:assumed-role/${this.attribute(roleId, 'Ref')}/${session}`;
  }

  /** The resolved policy document of the first resource of `type` whose `targets` property names `logicalId`. */
  public resourcePolicy(type: string, targets: string, documentProperty: string, logicalId: string): Json | undefined {
    const found = this.ofType(type).find(([, r]) => {
      const t = r.Properties?.[targets];
      return (Array.isArray(t) ? t : [t]).some((v) => this.referenced(v) === logicalId);
    });
    return found ? this.resolve(found[1].Properties![documentProperty]) : undefined;
  }

  private scalar(value: Json): string {
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  }

  private sub(arg: string | [string, Record<string, unknown>]): string {
    const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
    return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      if (name in vars) return this.string(vars[name]);
      if (PSEUDO[name]) return PSEUDO[name];
      const [id, attr] = name.split('.');
      return this.attribute(id, attr ?? 'Ref');
    });
  }
}

/**
 * The template of `stack` with the resources of its nested stacks merged in, as one template
 * whose references resolve as CloudFormation would resolve them across the stacks: a nested
 * template's `Ref` to one of its parameters becomes the value the parent passes, and the
 * parent's `Fn::GetAtt <nested>.Outputs.<name>` becomes that output's value. Each nested
 * stack's own resources keep their logical IDs (the stack puts each database under its own
 * construct, so they are unique across nested stacks; a clash throws). The nested stack
 * resources themselves stay, without their parameters. Policies and wiring are then evaluated
 * over the whole app, whichever stack a resource landed in; the CloudFormation limits of
 * each real template are checked on the templates themselves (test/bin/limits.test.ts).
 */
export function appTemplate(stack: Stack): Record<string, any> {
  const parent = structuredClone(Template.fromStack(stack).toJSON()) as Record<string, any>;
  const resources: Record<string, any> = parent.Resources ?? {};
  const outputs: Record<string, any> = parent.Outputs ?? {};
  const nestedOutputs = new Map<string, Record<string, any>>();
  for (const nested of stack.node.findAll().filter((c): c is NestedStack => c instanceof NestedStack && c.nestedStackParent === stack)) {
    const id = stack.getLogicalId(nested.nestedStackResource as CfnElement);
    const template = Template.fromStack(nested).toJSON() as Record<string, any>;
    const params: Record<string, unknown> = resources[id].Properties?.Parameters ?? {};
    // What a nested stack holds outside the database's construct (e.g. the scheduler's one role per
    // stack) has the same logical ID in every nested stack: such IDs get the nested stack's name in front.
    const renames = new Map(
      Object.keys(template.Resources ?? {})
        .filter((rid) => rid in resources)
        .map((rid) => [rid, `${nested.node.id}${rid}`]),
    );
    const rewrite = (v: unknown): unknown => rewriteNested(v, params, renames);
    for (const [rid, r] of Object.entries<any>(template.Resources ?? {})) {
      const to = renames.get(rid) ?? rid;
      if (to in resources) throw new Error(`appTemplate: ${to} is in both ${id} and the stack (or another nested stack)`);
      resources[to] = rewrite(r);
    }
    const out: Record<string, any> = {};
    for (const [oid, o] of Object.entries<any>(template.Outputs ?? {})) {
      out[oid] = rewrite(o.Value);
      if (oid in outputs) throw new Error(`appTemplate: output ${oid} is in both ${id} and the stack`);
      outputs[oid] = rewrite(o);
    }
    nestedOutputs.set(id, out);
    delete resources[id].Properties.Parameters;
  }
  const fromParent = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(fromParent);
    if (v === null || typeof v !== 'object') return v;
    const att = (v as Record<string, unknown>)['Fn::GetAtt'];
    if (Array.isArray(att) && nestedOutputs.has(att[0] as string) && String(att[1]).startsWith('Outputs.')) {
      const value = nestedOutputs.get(att[0] as string)![String(att[1]).slice('Outputs.'.length)];
      if (value === undefined) throw new Error(`appTemplate: ${att[0]} has no output ${att[1]}`);
      return value;
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromParent(x)]));
  };
  return { ...parent, Resources: fromParent(resources), Outputs: fromParent(outputs) };
}

/** A nested template's value with its parameters replaced by what the parent passes, and its `renames` applied. */
function rewriteNested(v: unknown, params: Record<string, unknown>, renames: ReadonlyMap<string, string>): unknown {
  const again = (x: unknown) => rewriteNested(x, params, renames);
  if (Array.isArray(v)) return v.map(again);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length === 1) {
    if (typeof o.Ref === 'string') return o.Ref in params ? params[o.Ref] : { Ref: renames.get(o.Ref) ?? o.Ref };
    const att = o['Fn::GetAtt'];
    if (att !== undefined) {
      const [rid, ...attr] = Array.isArray(att) ? (att as string[]) : (att as string).split('.');
      return { 'Fn::GetAtt': [renames.get(rid) ?? rid, attr.join('.')] };
    }
    if ('Fn::Sub' in o) {
      const arg = o['Fn::Sub'];
      const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [arg as string, {}];
      const names = [...text.matchAll(/\$\{([^}!]+)\}/g)].map((m) => m[1]).filter((n) => !(n in vars));
      const used = Object.fromEntries(names.filter((n) => n in params).map((n) => [n, params[n]]));
      const renamed = text.replace(/\$\{([^}.!]+)((?:\.[^}]+)?)\}/g, (all, rid: string, rest: string) =>
        renames.has(rid) && !(rid in vars) ? `\${${renames.get(rid)}${rest}}` : all,
      );
      return { 'Fn::Sub': [renamed, { ...(again(vars) as Record<string, unknown>), ...used }] };
    }
  }
  return Object.fromEntries(
    Object.entries(o).map(([k, x]) => [
      k,
      k === 'DependsOn' ? (Array.isArray(x) ? x.map((d) => renames.get(d) ?? d) : (renames.get(x as string) ?? x)) : again(x),
    ]),
  );
}
