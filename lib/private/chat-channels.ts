import { Names, SecretValue, Token } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { acknowledgeChatNotificationPolicy } from './acknowledgements';

/**
 * What AWS Chatbot (Amazon Q Developer in chat applications) may do with the channel role: the
 * actions of AWS's own "Notification permissions" policy template, read-only CloudWatch, which
 * Chatbot uses to show an alarm's details and metric graph beside a notification. Nothing
 * else: the alerts reach the channel through the SNS subscription that Chatbot makes itself,
 * which needs no permission of this role. The actions have no resource-level permissions.
 */
export const CHAT_NOTIFICATION_ACTIONS: readonly string[] = ['cloudwatch:Describe*', 'cloudwatch:Get*', 'cloudwatch:List*'];

/** The channels and webhooks of {@link subscribeChatChannels}. */
export interface ChatChannels {
  readonly slack?: { readonly workspaceId: string; readonly channelId: string };
  readonly teams?: { readonly teamId: string; readonly channelId: string; readonly tenantId: string };
  readonly webhooks?: ReadonlyArray<{ readonly secret: secretsmanager.ISecret; readonly field?: string }>;
}

/**
 * Subscribes chat channels (through AWS Chatbot) and HTTPS webhooks to `topic`, in `scope`:
 *
 * - Slack: the L2 `SlackChannelConfiguration`. Teams: aws-cdk-lib has no L2 for it, so the L1
 *   `CfnMicrosoftTeamsChannelConfiguration`, with the same role and guardrail.
 * - One channel role (`ChatChannelRole`) that Chatbot assumes, allowed
 *   {@link CHAT_NOTIFICATION_ACTIONS} only. Channel members act through it (user roles are
 *   off), so the chat can read CloudWatch and do nothing else.
 * - A guardrail (`ChatGuardrailPolicy`) with the same actions. Without one, Chatbot applies
 *   AdministratorAccess as the guardrail: any role later put on the channel (user roles,
 *   another channel role) would be capped by nothing. With it, nobody acting from the chat can
 *   do more than read CloudWatch, whatever role is attached.
 * - Each webhook: an `https` subscription whose endpoint is a CloudFormation dynamic reference
 *   to the secret (`{{resolve:secretsmanager:…}}`): the URL and its token never appear in the
 *   template. CloudFormation resolves it at deploy time (the deploying role reads the secret).
 */
export function subscribeChatChannels(scope: Construct, topic: sns.ITopic, channels: ChatChannels): void {
  if (channels.slack || channels.teams) {
    const name = Names.uniqueResourceName(scope, { maxLength: 100, separator: '-' });
    const role = new iam.Role(scope, 'ChatChannelRole', {
      assumedBy: new iam.ServicePrincipal('chatbot.amazonaws.com'),
      description: 'AWS Chatbot channel role of the backup alerts: read-only CloudWatch (alarm details and graphs), nothing else',
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: [...CHAT_NOTIFICATION_ACTIONS], resources: ['*'] }));
    const guardrail = new iam.ManagedPolicy(scope, 'ChatGuardrailPolicy', {
      description: 'Guardrail of the backup alert chat channels: caps every role used from the channel at read-only CloudWatch',
      statements: [new iam.PolicyStatement({ actions: [...CHAT_NOTIFICATION_ACTIONS], resources: ['*'] })],
    });
    for (const construct of [role, guardrail]) acknowledgeChatNotificationPolicy(construct, CHAT_NOTIFICATION_ACTIONS);
    if (channels.slack)
      new chatbot.SlackChannelConfiguration(scope, 'SlackChannel', {
        slackChannelConfigurationName: `${name}-slack`,
        slackWorkspaceId: channels.slack.workspaceId,
        slackChannelId: channels.slack.channelId,
        notificationTopics: [topic],
        role,
        guardrailPolicies: [guardrail],
        userRoleRequired: false,
        loggingLevel: chatbot.LoggingLevel.ERROR,
      });
    if (channels.teams)
      new chatbot.CfnMicrosoftTeamsChannelConfiguration(scope, 'TeamsChannel', {
        configurationName: `${name}-teams`,
        teamId: channels.teams.teamId,
        teamsChannelId: channels.teams.channelId,
        teamsTenantId: channels.teams.tenantId,
        iamRoleArn: role.roleArn,
        snsTopicArns: [topic.topicArn],
        guardrailPolicies: [guardrail.managedPolicyArn],
        userRoleRequired: false,
        loggingLevel: 'ERROR',
      });
  }
  (channels.webhooks ?? []).forEach(
    (webhook, i) =>
      new sns.Subscription(scope, `Webhook${i}`, {
        topic,
        protocol: sns.SubscriptionProtocol.HTTPS,
        endpoint: webhookUrl(webhook.secret, webhook.field).unsafeUnwrap(),
      }),
  );
}

/**
 * The dynamic reference to a webhook's URL: by the secret's ARN when it was given as a literal
 * (complete or partial), by name when it was imported by name (its ARN is then made of the
 * stack's tokens, and a dynamic reference must be a literal string).
 */
function webhookUrl(secret: secretsmanager.ISecret, field?: string): SecretValue {
  return SecretValue.secretsManager(Token.isUnresolved(secret.secretArn) ? secret.secretName : secret.secretArn, { jsonField: field });
}
