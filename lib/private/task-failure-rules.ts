import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { EXIT_CODE_WORDS } from '../../task/src/contract';

/** Props of {@link TaskFailureRules}. */
export interface TaskFailureRulesProps {
  /** The task definition family to watch (every revision of it). */
  readonly family: string;
  /** Where the alert goes. */
  readonly topic: sns.ITopic;
  /** Words for the alert, e.g. `Backup of orders`. */
  readonly description: string;
  /**
   * Whether the task definition has one container, so that the event's first container is the
   * one that exited: the alert then states its exit code. A task with a sidecar (the drill's
   * scratch server) lists its containers in no documented order, and its alert leaves the code
   * to the log rather than risk naming the sidecar's.
   * @default false
   */
  readonly singleContainer?: boolean;
}

/** Exit codes and their words, as one line of an alert ("1 internal, 2 configuration, …"). */
export const EXIT_CODE_LEGEND = EXIT_CODE_WORDS.map(([code, word]) => `${code} ${word}`).join(', ');

/** What to read first, in every failure alert. */
const READ_THE_LOG =
  'Read the task log: stack output LogGroupName, Logs Insights query "recent runs" (its stage, exitCode and cause fields say where and why it stopped).';

/**
 * An alert in AWS Chatbot's custom notification format (`version` 1.0, `source` custom):
 * Chatbot posts only the payloads it knows to Slack and Teams, and a plain-text message is not
 * one of them. The same JSON goes to every subscriber of the topic; its `title` and
 * `description` are complete sentences, so that an e-mail reader (who sees the JSON as it is)
 * and a webhook (which gets it inside SNS's envelope) read the same words.
 */
function chatNotification(title: string, description: string, nextSteps: string[], eventType: string): events.RuleTargetInput {
  const taskArn = events.EventField.fromPath('$.detail.taskArn');
  return events.RuleTargetInput.fromObject({
    content: { textType: 'client-markdown', title, description, nextSteps },
    version: '1.0',
    source: 'custom',
    id: events.EventField.fromPath('$.id'),
    metadata: { eventType, summary: title, relatedResources: [taskArn] },
  });
}

/**
 * EventBridge rules on "ECS Task State Change" for one task definition family:
 * - a task that stopped with a non-zero exit code (any container), scheduled or run by hand;
 * - a task that never started (`stopCode: TaskFailedToStart`, e.g. image pull or secret
 *   fetch failed), which has no exit code.
 * Both send the alert topic a sentence a person can act on, in AWS Chatbot's custom
 * notification format (see `chatNotification`): what failed, the task and ECS's reason, the
 * exit code where the event tells it unambiguously, and what to do.
 *
 * The exit code's word (3 database, 4 storage, …) is given as a legend beside the code: an
 * input transformer copies event fields but cannot map a value to a word, and one rule per
 * exit code (9 per family, 27 per database) would exhaust EventBridge's default quota of 300
 * rules per event bus at ten databases. The task's own stage is not in the ECS event at all
 * (an exit code is all a container reports): the log's `stage` field has it.
 */
export class TaskFailureRules extends Construct {
  public readonly failedRule: events.Rule;
  public readonly failedToStartRule: events.Rule;

  constructor(scope: Construct, id: string, props: TaskFailureRulesProps) {
    super(scope, id);
    // Every revision of the family: arn:…:task-definition/<family>:<revision>.
    const familyArn = Stack.of(this).formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${props.family}:` });
    const common = {
      lastStatus: ['STOPPED'],
      taskDefinitionArn: events.Match.prefix(familyArn),
    };
    const taskArn = events.EventField.fromPath('$.detail.taskArn');
    const stoppedReason = events.EventField.fromPath('$.detail.stoppedReason');

    this.failedRule = new events.Rule(this, 'Failed', {
      description: `${props.description}: a task stopped with a non-zero exit code`,
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { ...common, containers: { exitCode: events.Match.anythingBut(0) } },
      },
    });
    const exit = props.singleContainer
      ? `with exit code ${events.EventField.fromPath('$.detail.containers[0].exitCode')}`
      : 'with a non-zero exit code';
    this.failedRule.addTarget(
      new targets.SnsTopic(props.topic, {
        message: chatNotification(
          `${props.description} FAILED`,
          `${props.description} FAILED: task ${taskArn} stopped ${exit} (${stoppedReason}). ` + `Exit codes: ${EXIT_CODE_LEGEND}.`,
          [
            READ_THE_LOG,
            'Fix the cause (docs/operations.md, Alerts and what to do), then run the task again with its stack output command.',
          ],
          'TaskFailed',
        ),
      }),
    );

    this.failedToStartRule = new events.Rule(this, 'FailedToStart', {
      description: `${props.description}: a task failed to start`,
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { ...common, stopCode: ['TaskFailedToStart'] },
      },
    });
    this.failedToStartRule.addTarget(
      new targets.SnsTopic(props.topic, {
        message: chatNotification(
          `${props.description} did not start`,
          `${props.description} did not start: task ${taskArn} could not start (${stoppedReason}).`,
          [
            'Typical causes: the image cannot be pulled or the secret cannot be read (no route to ECR or Secrets Manager: NAT or VPC endpoints; a missing JSON field in the secret), or no Fargate capacity.',
            'Fix it, then run the task again with its stack output command.',
          ],
          'TaskFailedToStart',
        ),
      }),
    );
  }
}
