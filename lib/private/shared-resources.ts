import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AlarmSlackChannel, AlarmTeamsChannel, AlarmTopic, AlarmWebhook } from '../alarm-topic';
import { acknowledgeContainerInsights, acknowledgeDeadLetterQueue } from './acknowledgements';
import { deadLetterAlarm } from './alarms';

/** Retention of a log group created for the tasks. */
export const DEFAULT_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS;

/**
 * What every task of a project shares: the alert topic, the log group, the cluster and the
 * scheduler's dead-letter queue (with its alarm on the topic).
 */
export interface SharedResources {
  readonly alarmTopic: sns.ITopic;
  readonly logGroup: logs.ILogGroup;
  readonly cluster: ecs.ICluster;
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * Construct IDs of the shared resources that differ between `BackupStack` (`Alerts`,
 * `SchedulerDeadLetterQueue`, `SchedulerDeadLetterAlarm`) and a `PostgresBackup` used alone
 * (`AlarmTopic`, `DeadLetterQueue`, `DeadLetterAlarm`). Both are kept: construct IDs are public
 * API (changing one replaces the resource). The log group is `LogGroup` and the cluster `Cluster` in both.
 */
export interface SharedResourceIds {
  readonly alarmTopic: string;
  readonly deadLetterQueue: string;
  readonly deadLetterAlarm: string;
}

/** Props of {@link sharedResources}. A resource given is used as it is; only the others are created. */
export interface SharedResourcesProps {
  readonly ids: SharedResourceIds;
  /** The VPC of a cluster created here. */
  readonly vpc: ec2.IVpc;
  readonly alarmTopic?: sns.ITopic;
  /** Subscribed to a topic created here. @default - no subscription */
  readonly alarmEmail?: string;
  /** Subscribed to a topic created here (AWS Chatbot). @default - none */
  readonly alarmSlack?: AlarmSlackChannel;
  /** Subscribed to a topic created here (AWS Chatbot). @default - none */
  readonly alarmTeams?: AlarmTeamsChannel;
  /** Subscribed to a topic created here (HTTPS, URLs from secrets). @default - none */
  readonly alarmWebhooks?: readonly AlarmWebhook[];
  readonly logGroup?: logs.ILogGroup;
  /** Retention of a log group created here. @default DEFAULT_LOG_RETENTION */
  readonly logRetention?: logs.RetentionDays;
  readonly cluster?: ecs.ICluster;
  /** A queue given here gets no alarm from this function (its owner alarms on it). */
  readonly deadLetterQueue?: sqs.IQueue;
}

/**
 * The one place that creates the shared resources, in this order: an `AlarmTopic`, a log
 * group, a cluster (Container Insights acknowledged), and an encrypted, TLS-only dead-letter
 * queue kept 14 days with an alarm on the topic. `BackupStack` creates them once for all its
 * databases; a `PostgresBackup` used alone creates those it is not given.
 */
export function sharedResources(scope: Construct, props: SharedResourcesProps): SharedResources {
  const alarmTopic =
    props.alarmTopic ??
    new AlarmTopic(scope, props.ids.alarmTopic, {
      email: props.alarmEmail,
      slack: props.alarmSlack,
      teams: props.alarmTeams,
      webhooks: props.alarmWebhooks,
    }).topic;
  const logGroup = props.logGroup ?? new logs.LogGroup(scope, 'LogGroup', { retention: props.logRetention ?? DEFAULT_LOG_RETENTION });
  const cluster = props.cluster ?? createCluster(scope, props.vpc);
  const deadLetterQueue = props.deadLetterQueue ?? createDeadLetterQueue(scope, props.ids, alarmTopic);
  return { alarmTopic, logGroup, cluster, deadLetterQueue };
}

function createCluster(scope: Construct, vpc: ec2.IVpc): ecs.Cluster {
  const cluster = new ecs.Cluster(scope, 'Cluster', { vpc });
  acknowledgeContainerInsights(cluster);
  return cluster;
}

/** The scheduler's dead-letter queue, and the alarm that reports anything put in it. */
function createDeadLetterQueue(scope: Construct, ids: SharedResourceIds, topic: sns.ITopic): sqs.Queue {
  const queue = new sqs.Queue(scope, ids.deadLetterQueue, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  acknowledgeDeadLetterQueue(queue);
  deadLetterAlarm(scope, ids.deadLetterAlarm, { queue, topic });
  return queue;
}
