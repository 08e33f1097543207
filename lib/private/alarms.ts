import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENTS } from '../../task/src/contract';
import { allowAlarmsToPublish } from '../alarm-topic';

/** Sends the alarm's ALARM and (when `recovery`) OK transitions to the topic. */
function notify(alarm: cloudwatch.Alarm, topic: sns.ITopic, recovery: boolean): cloudwatch.Alarm {
  allowAlarmsToPublish(topic);
  alarm.addAlarmAction(new actions.SnsAction(topic));
  if (recovery) alarm.addOkAction(new actions.SnsAction(topic));
  return alarm;
}

/**
 * "No successful backup in `hours` hours": hourly sums of BackupSuccess, ALARM when every
 * one of the last `hours` periods is below 1. Missing data breaches, so a task that never
 * ran (schedule disabled, task failed to start, container killed before it could log) is
 * caught as surely as one that failed. Starts in ALARM after the first deploy until the
 * first backup is recorded. 1-hour periods may span up to 7 days, so 26 x 1 h is allowed.
 */
export function missedBackupAlarm(
  scope: Construct,
  id: string,
  props: { successMetric: cloudwatch.IMetric; hours: number; topic: sns.ITopic; what: string },
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    // Chatbot and the e-mail show this under the alarm's name: it names the database and the hours.
    alarmDescription:
      `${props.what}: no successful backup recorded in the last ${props.hours} hours (the last success, if any, is older than that). ` +
      'Check the task log and the scheduler dead-letter queue; run a backup now with the stack output BackupNowCommand.',
    metric: props.successMetric,
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: props.hours,
    datapointsToAlarm: props.hours,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  return notify(alarm, props.topic, true);
}

/** ALARM when a restore drill reported failure (DrillFailure >= 1) in the last day. */
export function drillFailedAlarm(
  scope: Construct,
  id: string,
  props: { failureMetric: cloudwatch.IMetric; topic: sns.ITopic; what: string },
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription:
      `${props.what}: the restore drill FAILED - the latest backup did not verify or restore. ` +
      `Read the drill log (${EVENTS.verifyFailed}), then verify the backup by hand (README, Operations).`,
    metric: props.failureMetric,
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return notify(alarm, props.topic, false);
}

/**
 * "No successful drill in `days` complete UTC days" (days <= 7, CloudWatch's longest
 * evaluation range). Daily periods on a wall-clock window aligned to midnight UTC: with
 * the weekly drill and 7 days, the alarm fires at the first midnight after a scheduled
 * drill failed or did not run, i.e. at most 8 days after the last success, and never
 * because one week's drill ran a few minutes later than the last. Missing data breaches.
 */
export function drillOverdueAlarm(
  scope: Construct,
  id: string,
  props: { successMetric: cloudwatch.IMetric; days: number; topic: sns.ITopic; what: string },
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription:
      `${props.what}: no successful restore drill in ${props.days} complete days (UTC). ` +
      'Check that the drill schedule is enabled and read the drill log; run a drill now with the stack output DrillNowCommand.',
    metric: props.successMetric,
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: props.days,
    datapointsToAlarm: props.days,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  (alarm.node.defaultChild as cloudwatch.CfnAlarm).evaluationWindow = { wallClockWindow: { timezone: 'UTC' } };
  return notify(alarm, props.topic, true);
}

/** ALARM when EventBridge Scheduler put an invocation it could not deliver into the dead-letter queue. */
export function deadLetterAlarm(scope: Construct, id: string, props: { queue: sqs.IQueue; topic: sns.ITopic }): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription:
      'EventBridge Scheduler could not start a backup or drill task after its retries; the event is in the dead-letter queue. ' +
      'Read the message attributes (ERROR_CODE, ERROR_MESSAGE) to see why, fix it, then run the task by hand.',
    metric: props.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return notify(alarm, props.topic, false);
}
