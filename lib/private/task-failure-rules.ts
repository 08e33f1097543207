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
}

/**
 * EventBridge rules on "ECS Task State Change" for one task definition family:
 * - a task that stopped with a non-zero exit code (any container), scheduled or run by hand;
 * - a task that never started (`stopCode: TaskFailedToStart`, e.g. image pull or secret
 *   fetch failed), which has no exit code.
 * Both send a readable message to the alert topic.
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

    this.failedRule = new events.Rule(this, 'Failed', {
      description: `${props.description}: a task stopped with a non-zero exit code`,
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { ...common, containers: { exitCode: events.Match.anythingBut(0) } },
      },
    });
    this.failedRule.addTarget(
      new targets.SnsTopic(props.topic, {
        message: events.RuleTargetInput.fromText(
          `${props.description} FAILED. Task ${events.EventField.fromPath('$.detail.taskArn')} stopped: ` +
            `${events.EventField.fromPath('$.detail.stoppedReason')} (stop code ${events.EventField.fromPath('$.detail.stopCode')}). ` +
            `The task log says why; its exit code means: ${EXIT_CODE_WORDS.map(([code, word]) => `${code} ${word}`).join(', ')}. ` +
            'Read the task log (stack output LogGroupName, Logs Insights query "recent runs").',
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
        message: events.RuleTargetInput.fromText(
          `${props.description} did not start. Task ${events.EventField.fromPath('$.detail.taskArn')}: ` +
            `${events.EventField.fromPath('$.detail.stoppedReason')}. Typical causes: the image cannot be pulled or the secret ` +
            'cannot be read (no route to ECR / Secrets Manager: NAT or VPC endpoints), or no Fargate capacity.',
        ),
      }),
    );
  }
}
