import { Annotations, ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { subscribeChatChannels } from './private/chat-channels';

/** A Slack channel that AWS Chatbot posts the alerts to. The workspace must first be authorized in the AWS Chatbot console. */
export interface AlarmSlackChannel {
  /** The workspace ID the AWS Chatbot console shows, e.g. `T0123ABCD`. */
  readonly workspaceId: string;
  /** The channel ID, e.g. `C0123ABCDEF`. Invite the AWS app (`/invite @Amazon Q`) into a private channel. */
  readonly channelId: string;
}

/** A Microsoft Teams channel that AWS Chatbot posts the alerts to. The team must first be authorized in the AWS Chatbot console. */
export interface AlarmTeamsChannel {
  /** The team's ID (a UUID). */
  readonly teamId: string;
  /** The channel's ID, URL-encoded as in its link (`19%3a…%40thread.tacv2`). */
  readonly channelId: string;
  /** The Microsoft Entra tenant's ID (a UUID). */
  readonly tenantId: string;
}

/**
 * An HTTPS endpoint subscribed to the topic. Its URL carries a token, so it is read from a
 * secret at deploy time and never written into the template. SNS first posts a subscription
 * confirmation to it: the receiver must confirm (PagerDuty, Opsgenie and similar SNS-aware
 * receivers do), and then receives every alert in SNS's JSON envelope.
 */
export interface AlarmWebhook {
  /** The secret holding the `https://` URL. */
  readonly secret: secretsmanager.ISecret;
  /** The JSON field of the secret holding the URL. @default - the whole secret string */
  readonly field?: string;
}

/** Props of {@link AlarmTopic}. */
export interface AlarmTopicProps {
  /**
   * An address subscribed to the topic. AWS sends it a confirmation message first: alerts
   * arrive only after someone clicks the link in it.
   * @default - no subscription
   */
  readonly email?: string;
  /** @default - a new customer-managed key with rotation, usable by CloudWatch and EventBridge */
  readonly encryptionKey?: kms.IKey;
  /**
   * A Slack channel, through AWS Chatbot, with a channel role and guardrail that allow
   * read-only CloudWatch and nothing else.
   * @default - no Slack channel
   */
  readonly slack?: AlarmSlackChannel;
  /**
   * A Microsoft Teams channel, through AWS Chatbot (the L1 resource: aws-cdk-lib has no L2 for
   * Teams), with the same role and guardrail as `slack`.
   * @default - no Teams channel
   */
  readonly teams?: AlarmTeamsChannel;
  /** HTTPS endpoints, their URLs read from secrets. @default - none */
  readonly webhooks?: readonly AlarmWebhook[];
}

/**
 * Lets this account's CloudWatch alarms publish to `topic`.
 *
 * A topic policy replaces SNS's default policy, and CDK writes one as soon as `enforceSSL`
 * is set or an EventBridge rule targets the topic (it adds only `events.amazonaws.com`).
 * Without this statement an alarm goes to ALARM and notifies nobody ("no resource-based
 * policy allows the SNS:Publish action"). The allow is scoped to alarms of this account and
 * region (`aws:SourceAccount`, `aws:SourceArn`). Identical statements are merged, so every
 * alarm may call this for its topic.
 *
 * A topic imported by ARN has no policy this stack can change: a warning says what to add.
 */
export function allowAlarmsToPublish(topic: sns.ITopic): void {
  const stack = Stack.of(topic);
  const result = topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowCloudWatchAlarmsToPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  if (!result.statementAdded) {
    Annotations.of(topic).addWarningV2(
      'pg-s3-backup:alarmTopicPolicy',
      `The alarms publish to ${topic.node.path}, whose policy this stack cannot change. Its topic policy must allow cloudwatch.amazonaws.com to sns:Publish ` +
        '(and its KMS key, if any, must let cloudwatch.amazonaws.com use kms:GenerateDataKey* and kms:Decrypt), or no alarm notifies anyone.',
    );
  }
}

/**
 * The SNS topic that receives every alert: TLS-only topic policy, encrypted with a
 * customer-managed key that CloudWatch alarms and EventBridge rules may use (the AWS
 * managed `alias/aws/sns` key cannot be used by either service). The alarms add their
 * own publish permission (`allowAlarmsToPublish`); EventBridge targets add theirs.
 * Subscribers: an e-mail address, a Slack and a Teams channel (AWS Chatbot), HTTPS webhooks.
 */
export class AlarmTopic extends Construct {
  public readonly topic: sns.Topic;
  public readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    super(scope, id);
    if (props.encryptionKey) {
      this.encryptionKey = props.encryptionKey;
    } else {
      const key = new kms.Key(this, 'Key', { enableKeyRotation: true, description: 'Encrypts the PostgreSQL backup alert topic' });
      for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
        key.addToResourcePolicy(
          new iam.PolicyStatement({
            principals: [new iam.ServicePrincipal(service)],
            actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            resources: ['*'],
          }),
        );
      }
      this.encryptionKey = key;
    }
    this.topic = new sns.Topic(this, 'Topic', { masterKey: this.encryptionKey, enforceSSL: true, displayName: 'PostgreSQL backup alerts' });
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    subscribeChatChannels(this, this.topic, { slack: props.slack, teams: props.teams, webhooks: props.webhooks });
  }
}
