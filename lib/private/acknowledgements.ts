import { CfnElement, Names, Stack, Validations } from 'aws-cdk-lib';
import { ENV } from '../../task/src/contract';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';

/*
 * cdk-nag (AwsSolutions) findings that remain by design, each acknowledged on the construct
 * that causes it, with the reason. Kept together so that a reviewer reads them in one place.
 */

/** The cluster: Container Insights is off. */
export function acknowledgeContainerInsights(cluster: ecs.ICluster): void {
  Validations.of(cluster).acknowledge({
    id: 'AwsSolutions-ECS4',
    reason:
      'The cluster runs one short task a day (and one drill a week). Container Insights would bill its per-task metrics as custom metrics, more than the rest of the stack costs; ' +
      'the task reports what matters (success, duration, bytes) itself through Embedded Metric Format, and ECS task state changes alert through EventBridge.',
  });
}

/**
 * cdk-nag findings every task definition here shares. `secrets` says how the task's
 * credentials arrive, when they differ from the backup task's.
 */
export function acknowledgeTaskDefinition(
  taskDefinition: ecs.TaskDefinition,
  what: string,
  secrets = `the host, user and password (or ${ENV.databaseUrl}) are ECS secrets injected from Secrets Manager and never appear in the template.`,
): void {
  Validations.of(taskDefinition).acknowledge({
    id: 'AwsSolutions-ECS2',
    reason: `The environment of ${what} holds only non-secret settings (bucket, prefix, project, log format, memory limit, database name, sslmode); ${secrets}`,
  });
}

/** The execution role's wildcards come from ECS itself (CDK grants). */
export function acknowledgeExecutionRole(taskDefinition: ecs.TaskDefinition): void {
  const role = taskDefinition.obtainExecutionRole();
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'ecr:GetAuthorizationToken does not support resource-level permissions (AWS documents Resource "*"); the image pull itself is limited to the one asset repository.',
  });
}

/**
 * The task role's only wildcard: the object ARN of its own folder (`<bucket>/<folder>*`),
 * because key names are chosen at run time. The finding ID names that exact resource, so
 * any other wildcard added later is still reported.
 */
export function acknowledgeFolderWildcard(role: iam.IRole, bucket: s3.IBucket, folder: string, actions: string): void {
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagResourceName(role, bucket.arnForObjects(`${folder}*`))}]`,
    reason: `The role may ${actions} only on object keys under its own database folder (${folder}*): the task chooses key names at run time, so the object ARN ends in a wildcard. s3:ListBucket is conditioned on the same prefix.`,
  });
}

/**
 * How cdk-nag names a resource in a finding: the resolved ARN with `Fn::GetAtt` as
 * `<Logical.Attr>`, `Ref` as `<Logical>` and `Fn::Join` concatenated. In a nested stack, a
 * resource of its parent stack arrives as a parameter, which cdk-nag names `<parameter>`:
 * CDK names it `reference-to-<unique ID of the resource><attribute>` (core's refs.ts), here
 * without the characters a logical ID drops.
 */
export function nagResourceName(scope: IConstruct, value: string): string {
  const stack = Stack.of(scope);
  const parent = stack.nestedStackParent;
  const fromParent = (logicalId: string, attribute: string): string | undefined => {
    if (!parent) return undefined;
    const own = (c: IConstruct) => CfnElement.isCfnElement(c) && Stack.of(c) === stack && stack.getLogicalId(c) === logicalId;
    if (stack.node.findAll().some(own)) return undefined;
    const element = parent.node
      .findAll()
      .find((c) => CfnElement.isCfnElement(c) && Stack.of(c) === parent && parent.getLogicalId(c) === logicalId);
    return element ? `<${`reference-to-${Names.nodeUniqueId(element.node)}${attribute}`.replace(/[^A-Za-z0-9]/g, '')}>` : undefined;
  };
  const flatten = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('Fn::Join' in o) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map(flatten).join(sep);
      }
      if ('Fn::GetAtt' in o) {
        const [id, attribute] = o['Fn::GetAtt'] as string[];
        return fromParent(id, attribute) ?? `<${id}.${attribute}>`;
      }
      if ('Ref' in o) return fromParent(String(o.Ref), 'Ref') ?? `<${String(o.Ref)}>`;
    }
    return JSON.stringify(v);
  };
  return flatten(stack.resolve(value));
}

/** The scheduler's dead-letter queue has no dead-letter queue of its own. */
export function acknowledgeDeadLetterQueue(queue: sqs.IQueue): void {
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      'This queue is itself the dead-letter queue of the EventBridge Scheduler schedules (cdk-nag cannot see that link); a dead-letter queue of a dead-letter queue has no purpose. An alarm watches its depth.',
  });
}

/** The server access log bucket does not log its own access. */
export function acknowledgeAccessLogsBucket(bucket: s3.IBucket): void {
  Validations.of(bucket).acknowledge({
    id: 'AwsSolutions-S1',
    reason:
      'This bucket is the server access log target of the backup bucket; logging it to itself would loop, and logging it to a third bucket adds cost without audit value.',
  });
}

/** The restore target secret is set by hand before a restore; it is not rotated. */
export function acknowledgeRestoreTargetSecret(secret: secretsmanager.ISecret): void {
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      'The value is set by an operator just before a restore and points at a new instance (its initial value is a placeholder, not a credential); ' +
      "there is no standing credential to rotate, and a rotation Lambda would change the new instance's password in the middle of an incident.",
  });
}

/** The operator's read-only policy ends its object ARNs in a wildcard: backups are named at run time. */
export function acknowledgeOperatorPolicy(policy: iam.ManagedPolicy, bucket: s3.IBucket, under: readonly string[]): void {
  for (const u of under)
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceName(policy, bucket.arnForObjects(u))}]`,
      reason: `Read-only access (s3:GetObject) to the project's backups under ${u}: their keys are chosen at run time. s3:ListBucket is conditioned on the same prefixes, and nothing can write or delete.`,
    });
}

/**
 * The chat channel role and guardrail: AWS's Chatbot "Notification permissions" template. Each
 * wildcard is acknowledged by its exact finding ID, so any other wildcard added later is still reported.
 */
export function acknowledgeChatNotificationPolicy(construct: IConstruct, actions: readonly string[]): void {
  const reason =
    'AWS\'s own Chatbot "Notification permissions" template: read-only CloudWatch (Describe*, Get*, List*), which Chatbot uses to show an alarm\'s details and graph. ' +
    "These actions have no resource-level permissions, hence Resource '*'. Nothing else is granted to the channel role or allowed by the guardrail.";
  for (const id of [...actions.map((a) => `AwsSolutions-IAM5[Action::${a}]`), 'AwsSolutions-IAM5[Resource::*]'])
    Validations.of(construct).acknowledge({ id, reason });
}
