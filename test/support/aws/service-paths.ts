import { Authorization, keyPolicyOf } from './iam';
import { ACCOUNT, Json, REGION, ResolvedTemplate } from './template';

/**
 * Every authorization an AWS service makes on the stack's behalf, found by walking the
 * template's graph (never listed by hand):
 *
 * - `alarm`: each CloudWatch alarm action that is a topic: CloudWatch publishes to it
 *   (topic policy) and uses its key (key policy).
 * - `rule`: each EventBridge rule target that is a topic, the same for EventBridge.
 * - `schedule`: each EventBridge Scheduler schedule: the scheduler assumes its role (trust
 *   policy), which runs the task definition on the cluster, passes both task roles to ECS, and
 *   sends undeliverable invocations to the dead-letter queue (queue policy).
 * - `task`: each task definition: ECS assumes the execution and task roles; the execution
 *   role reads every referenced secret (and decrypts it with that secret's key), pulls every
 *   image from a private ECR repository, and writes each container's log stream.
 * - `access-logs`: S3 server access logging delivers into the log bucket (bucket policy).
 * - `chat`: each AWS Chatbot channel configuration (Slack, Teams): the deploying role subscribes
 *   Chatbot's HTTPS endpoint to each of its topics (topic policy), Chatbot assumes the channel
 *   role (trust policy), and what Chatbot reads to show an alarm is allowed by the channel role
 *   and by every guardrail policy (Chatbot acts with the intersection of the two).
 * - `subscription`: each `AWS::SNS::Subscription`: the deploying role subscribes the endpoint to
 *   the topic (topic policy). SNS then delivers to an HTTPS endpoint on its own: no policy of
 *   the stack is consulted for that (the topic's key is used by SNS itself, not by the
 *   subscriber), so subscribing is the last authorization on the path.
 *
 * `problems` are paths AWS would refuse whatever the policies say: an image in a public
 * registry (no VPC endpoint reaches it), a topic on the AWS managed SNS key (CloudWatch and
 * EventBridge cannot use it), a key whose policy the template does not hold.
 */
export interface ServicePaths {
  readonly authorizations: Authorization[];
  /**
   * Requests that must be denied: what a chat channel could otherwise do with AWS from the chat
   * (write to CloudWatch, read the backups or secrets, run tasks, pass roles, publish).
   */
  readonly forbidden: Authorization[];
  readonly problems: string[];
  /** How many paths of each kind were found: a kind with none means the walk found nothing to check. */
  readonly counts: Record<'alarm' | 'rule' | 'schedule' | 'task' | 'access-logs' | 'chat' | 'subscription', number>;
}

/** Options of {@link servicePaths}. */
export interface ServicePathOptions {
  /**
   * The customer-managed key of a secret the template imports (the template cannot say which
   * key encrypts an imported secret; the configuration does): secret ARN as referenced → key ARN.
   */
  readonly keyOfImportedSecret?: (secretArn: string) => string | undefined;
}

export function servicePaths(t: ResolvedTemplate, options: ServicePathOptions = {}): ServicePaths {
  const authorizations: Authorization[] = [];
  const forbidden: Authorization[] = [];
  const problems: string[] = [];
  const counts = { alarm: 0, rule: 0, schedule: 0, task: 0, 'access-logs': 0, chat: 0, subscription: 0 };
  const add = (a: Authorization) => authorizations.push(a);

  /** A service publishing to a topic of the template, and using the topic's key. */
  const publish = (what: string, service: string, topicRef: unknown, sourceArn: string): boolean => {
    const topicId = t.referenced(topicRef);
    if (!topicId || t.resources[topicId].Type !== 'AWS::SNS::Topic') return false;
    const topicArn = t.string(topicRef);
    const context = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': sourceArn, 'aws:SecureTransport': 'true' };
    add({
      description: `${what}: ${service} publishes to ${topicId}`,
      principal: service,
      action: 'sns:Publish',
      resource: topicArn,
      context,
      identityPolicies: [],
      resourcePolicy: t.resourcePolicy('AWS::SNS::TopicPolicy', 'Topics', 'PolicyDocument', topicId) ?? defaultTopicPolicy(topicArn),
    });
    const keyRef = t.resources[topicId].Properties?.KmsMasterKeyId;
    if (keyRef !== undefined) {
      const keyId = t.referenced(keyRef);
      if (!keyId || t.resources[keyId].Type !== 'AWS::KMS::Key') {
        problems.push(
          `${what}: ${topicId} is encrypted with ${JSON.stringify(t.resolve(keyRef))}, whose key policy ${service} cannot be shown to allow`,
        );
      } else {
        for (const action of ['kms:GenerateDataKey', 'kms:Decrypt'])
          add({
            description: `${what}: ${service} uses ${keyId} to publish to ${topicId}`,
            principal: service,
            action,
            resource: t.attribute(keyId, 'Arn'),
            context: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': sourceArn },
            identityPolicies: [],
            resourcePolicy: t.resolve(t.resources[keyId].Properties!.KeyPolicy),
          });
      }
    }
    return true;
  };

  for (const [id, alarm] of t.ofType('AWS::CloudWatch::Alarm')) {
    const p = alarm.Properties ?? {};
    for (const action of [...(p.AlarmActions ?? []), ...(p.OKActions ?? []), ...(p.InsufficientDataActions ?? [])])
      if (publish(`alarm ${id}`, 'cloudwatch.amazonaws.com', action, t.attribute(id, 'Arn'))) counts.alarm++;
  }

  for (const [id, rule] of t.ofType('AWS::Events::Rule')) {
    for (const target of rule.Properties?.Targets ?? [])
      if (publish(`rule ${id}`, 'events.amazonaws.com', target.Arn, t.attribute(id, 'Arn'))) counts.rule++;
  }

  const assume = (what: string, service: string, roleId: string, sourceArn?: string) =>
    add({
      description: `${what}: ${service} assumes ${roleId}`,
      principal: service,
      action: 'sts:AssumeRole',
      resource: t.attribute(roleId, 'Arn'),
      context: { 'aws:SourceAccount': ACCOUNT, ...(sourceArn ? { 'aws:SourceArn': sourceArn } : {}) },
      identityPolicies: [],
      resourcePolicy: t.resolve(t.resources[roleId].Properties!.AssumeRolePolicyDocument),
    });

  for (const [id, schedule] of t.ofType('AWS::Scheduler::Schedule')) {
    counts.schedule++;
    const target = schedule.Properties!.Target;
    const what = `schedule ${id}`;
    const roleId = t.roleId(target.RoleArn);
    // Scheduler names the schedule group, not the schedule, as the source (its "confused deputy" guidance).
    const group = schedule.Properties!.GroupName ? t.string(schedule.Properties!.GroupName) : 'default';
    assume(what, 'scheduler.amazonaws.com', roleId, `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/${group}`);
    const as = { ...t.callerOf(roleId, 'scheduler'), identityPolicies: t.identityPolicies(roleId) };
    const taskDefRef = target.EcsParameters?.TaskDefinitionArn;
    if (!taskDefRef) {
      problems.push(`${what}: its target is not an ECS task`);
      continue;
    }
    const taskDefId = t.referenced(taskDefRef)!;
    add({
      ...as,
      description: `${what}: runs ${taskDefId}`,
      action: 'ecs:RunTask',
      resource: t.string(taskDefRef),
      context: { 'ecs:cluster': t.string(target.Arn) },
    });
    const taskDef = t.resources[taskDefId].Properties!;
    for (const roleRef of [taskDef.TaskRoleArn, taskDef.ExecutionRoleArn].filter(Boolean))
      add({
        ...as,
        description: `${what}: passes ${t.roleId(roleRef)} to ECS`,
        action: 'iam:PassRole',
        resource: t.string(roleRef),
        context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
      });
    const dlq = target.DeadLetterConfig?.Arn;
    if (dlq) {
      const queueId = t.referenced(dlq)!;
      add({
        ...as,
        description: `${what}: sends undeliverable invocations to ${queueId}`,
        action: 'sqs:SendMessage',
        resource: t.string(dlq),
        context: { 'aws:SecureTransport': 'true' },
        resourcePolicy: t.resourcePolicy('AWS::SQS::QueuePolicy', 'Queues', 'PolicyDocument', queueId),
      });
    }
  }

  for (const [id, taskDefinition] of t.ofType('AWS::ECS::TaskDefinition')) {
    counts.task++;
    const p = taskDefinition.Properties!;
    const what = `task definition ${id}`;
    const taskDefArn = t.attribute(id, 'Ref');
    const executionRole = t.roleId(p.ExecutionRoleArn);
    for (const roleRef of [p.TaskRoleArn, p.ExecutionRoleArn].filter(Boolean))
      assume(what, 'ecs-tasks.amazonaws.com', t.roleId(roleRef), taskDefArn.replace(/:\d+$/, ':*').replace(':task-definition/', ':task/'));
    const as = { ...t.callerOf(executionRole, 'ecs'), identityPolicies: t.identityPolicies(executionRole) };
    for (const container of p.ContainerDefinitions ?? []) {
      const where = `${what} container ${container.Name}`;
      for (const secret of container.Secrets ?? []) {
        const { arn, secretId } = secretOf(t, secret.ValueFrom);
        add({ ...as, description: `${where}: reads ${secret.Name}`, action: 'secretsmanager:GetSecretValue', resource: arn, context: {} });
        const keyArn = secretId
          ? createdSecretKey(t, secretId)
          : options.keyOfImportedSecret?.(t.string(secret.ValueFrom).replace(/:[^:]*:[^:]*:[^:]*$/, ''));
        if (keyArn)
          add({
            ...as,
            description: `${where}: decrypts ${secret.Name} with ${keyArn}`,
            action: 'kms:Decrypt',
            resource: keyArn,
            context: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` },
            resourcePolicy: keyPolicyOf(t, keyArn),
          });
      }
      const image = t.string(container.Image);
      const ecr = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)/.exec(image);
      if (!ecr || ecr[1] !== ACCOUNT) {
        problems.push(
          `${where} pulls ${image}: not a private ECR repository of this account, so it cannot be pulled through VPC endpoints without a NAT`,
        );
      } else {
        add({ ...as, description: `${where}: ECR login`, action: 'ecr:GetAuthorizationToken', resource: '*', context: {} });
        for (const action of ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'])
          add({
            ...as,
            description: `${where}: pulls ${ecr[3]}`,
            action,
            resource: `arn:aws:ecr:${ecr[2]}:${ecr[1]}:repository/${ecr[3]}`,
            context: {},
          });
      }
      const log = container.LogConfiguration;
      if (log?.LogDriver === 'awslogs') {
        const group = t.string(log.Options['awslogs-group']);
        const stream = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${group}:log-stream:${t.string(log.Options['awslogs-stream-prefix'])}/${container.Name}/0123`;
        for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents'])
          add({ ...as, description: `${where}: writes its log stream`, action, resource: stream, context: {} });
      } else {
        problems.push(`${where} has no awslogs log configuration: its output would be lost`);
      }
    }
  }

  for (const [id, bucket] of t.ofType('AWS::S3::Bucket')) {
    const logging = bucket.Properties?.LoggingConfiguration;
    if (!logging) continue;
    counts['access-logs']++;
    const target = t.referenced(logging.DestinationBucketName)!;
    add({
      description: `bucket ${id}: S3 delivers its access logs to ${target}`,
      principal: 'logging.s3.amazonaws.com',
      action: 's3:PutObject',
      resource: `arn:aws:s3:::${t.string(logging.DestinationBucketName)}/${t.string(logging.LogFilePrefix ?? '')}2026-12-01-04-00-00-0123`,
      context: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': t.attribute(id, 'Arn'), 'aws:SecureTransport': 'true' },
      identityPolicies: [],
      resourcePolicy: t.resourcePolicy('AWS::S3::BucketPolicy', 'Bucket', 'PolicyDocument', target),
    });
  }

  const subscribe = (what: string, topicRef: unknown, protocol: string, endpoint: string) => {
    const topicId = t.referenced(topicRef);
    if (!topicId || t.resources[topicId].Type !== 'AWS::SNS::Topic') {
      problems.push(`${what}: ${JSON.stringify(t.resolve(topicRef))} is not a topic of this template`);
      return;
    }
    add({
      description: `${what}: the deploying role subscribes ${protocol} ${endpoint} to ${topicId}`,
      ...t.deployer(),
      action: 'sns:Subscribe',
      resource: t.string(topicRef),
      context: { 'sns:Protocol': protocol, 'sns:Endpoint': endpoint, 'aws:SecureTransport': 'true' },
      resourcePolicy:
        t.resourcePolicy('AWS::SNS::TopicPolicy', 'Topics', 'PolicyDocument', topicId) ?? defaultTopicPolicy(t.string(topicRef)),
    });
  };

  for (const [id, config] of [
    ...t.ofType('AWS::Chatbot::SlackChannelConfiguration'),
    ...t.ofType('AWS::Chatbot::MicrosoftTeamsChannelConfiguration'),
  ]) {
    counts.chat++;
    const p = config.Properties!;
    const what = `chat channel ${id}`;
    const topics: unknown[] = p.SnsTopicArns ?? [];
    if (topics.length === 0) problems.push(`${what}: subscribed to no topic`);
    for (const topic of topics) subscribe(what, topic, 'https', CHATBOT_ENDPOINT);
    const roleId = t.roleId(p.IamRoleArn);
    assume(what, 'chatbot.amazonaws.com', roleId);
    const guardrails: unknown[] = p.GuardrailPolicies ?? [];
    if (guardrails.length === 0) problems.push(`${what}: no guardrail policy, so AWS applies AdministratorAccess as the guardrail`);
    if (p.UserRoleRequired === true) problems.push(`${what}: user roles are required, so the channel role alone does not decide`);
    // Chatbot acts with the channel role, capped by the guardrails: each must allow it.
    const limits = [
      { name: `${roleId} (channel role)`, policies: t.identityPolicies(roleId) },
      ...guardrails.map((g) => ({ name: `guardrail ${t.string(g)}`, policies: [{ name: t.string(g), policy: t.managedPolicy(g) }] })),
    ];
    const as = t.callerOf(roleId, 'chatbot');
    const alarm = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:MissedBackupAlarm`;
    for (const limit of limits) {
      for (const [action, resource] of [
        ['cloudwatch:DescribeAlarms', alarm],
        ['cloudwatch:DescribeAlarmHistory', alarm],
        ['cloudwatch:GetMetricData', '*'],
        ['cloudwatch:GetMetricWidgetImage', '*'],
        ['cloudwatch:ListMetrics', '*'],
      ])
        add({
          ...as,
          description: `${what}: ${limit.name} lets Chatbot read ${action}`,
          action,
          resource,
          context: {},
          identityPolicies: limit.policies,
        });
      for (const [action, resource] of [
        ['cloudwatch:DeleteAlarms', alarm],
        ['cloudwatch:PutMetricData', '*'],
        ['s3:GetObject', 'arn:aws:s3:::backups/orders/orders/202612010400.dump'],
        ['secretsmanager:GetSecretValue', `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:orders/postgres-AbCdEf`],
        ['ecs:RunTask', `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/backup:1`],
        ['iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/any`],
        ['sns:Publish', `arn:aws:sns:${REGION}:${ACCOUNT}:any`],
        ['logs:GetLogEvents', `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:any:log-stream:any`],
      ])
        forbidden.push({
          ...as,
          description: `${what}: ${limit.name} lets Chatbot ${action}`,
          action,
          resource,
          context: {},
          identityPolicies: limit.policies,
        });
    }
  }

  for (const [id, subscription] of t.ofType('AWS::SNS::Subscription')) {
    counts.subscription++;
    const p = subscription.Properties!;
    const what = `subscription ${id}`;
    const endpoint = t.string(p.Endpoint);
    if (p.Protocol === 'https' || p.Protocol === 'http') {
      if (p.Protocol !== 'https') problems.push(`${what}: protocol ${p.Protocol}; webhooks must use https`);
      // A webhook URL carries its token: the template may hold only a reference to the secret.
      if (!/^\{\{resolve:secretsmanager:[^}]+\}\}$/.test(endpoint))
        problems.push(`${what}: the endpoint is written into the template instead of a {{resolve:secretsmanager:…}} reference`);
      subscribe(what, p.TopicArn, p.Protocol, 'https://webhook.example.com/resolved-at-deploy-time');
    } else {
      subscribe(what, p.TopicArn, p.Protocol, endpoint);
    }
  }

  return { authorizations, forbidden, problems, counts };
}

/** The endpoint AWS Chatbot subscribes to a configuration's topics. */
const CHATBOT_ENDPOINT = 'https://global.sns-api.chatbot.amazonaws.com';

/** The secret behind an ECS `ValueFrom` (`<secret ARN>[:json-key:version-stage:version-id]`), completed with a suffix when it is partial. */
function secretOf(t: ResolvedTemplate, valueFrom: unknown): { arn: string; secretId?: string } {
  const secretId = t.referenced(valueFrom);
  const m = /^(arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:[^:]+)/.exec(t.string(valueFrom));
  if (!m) throw new Error(`not a Secrets Manager reference: ${t.string(valueFrom)}`);
  // A secret imported by name or partial ARN is referenced without the 6 characters Secrets Manager appends.
  return {
    arn: /-[A-Za-z0-9]{6}$/.test(m[1]) ? m[1] : `${m[1]}-AbCdEf`,
    secretId: t.resources[secretId ?? '']?.Type === 'AWS::SecretsManager::Secret' ? secretId : undefined,
  };
}

/** The customer-managed key of a secret the template creates (none: the AWS managed key, usable by every principal of the account through Secrets Manager). */
function createdSecretKey(t: ResolvedTemplate, secretId: string): string | undefined {
  const key = t.resources[secretId].Properties?.KmsKeyId;
  return key === undefined ? undefined : t.string(key);
}

/** SNS's default topic policy: principals of the owning account may publish. */
function defaultTopicPolicy(topicArn: string): Json {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'sns:Publish',
        Resource: topicArn,
        Condition: { StringEquals: { 'AWS:SourceOwner': ACCOUNT } },
      },
    ],
  };
}
