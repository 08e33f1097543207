import { Token } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { EXIT_CODE_WORDS, EXIT_CODES } from '../../task/src/contract';
import { logStreamSafe } from './cli-container';

/** The tasks a project runs, each started in an ECS task group of its own kind. */
export type TaskKind = 'backup' | 'restore' | 'drill';

/** What a task group of each kind starts with; the database follows. */
export const TASK_GROUP_PREFIXES: Readonly<Record<TaskKind, string>> = {
  backup: 'pg-s3-backup:',
  restore: 'pg-s3-restore:',
  drill: 'pg-s3-drill:',
};

/**
 * The ECS task group a task of `kind` for `databaseName` is started in (by its schedule and by
 * its stack output command), e.g. `pg-s3-backup:orders`: the failure alerts name the task by it.
 * ECS documents only a length limit (255) for a group, so the database name keeps letters,
 * digits, `_`, `.` and `-`, and any other character becomes `_` (as in the log stream prefix).
 */
export function taskGroup(kind: TaskKind, databaseName: string): string {
  return `${TASK_GROUP_PREFIXES[kind]}${logStreamSafe(databaseName)}`.slice(0, 255);
}

/** What to read first, in every failure alert. */
const READ_THE_LOG =
  'Read the task log: stack output LogGroupName, Logs Insights query "recent runs" (its stage, exitCode and cause fields say where and why it stopped).';

const RUN_AGAIN = 'Fix the cause (docs/operations.md, Alerts and what to do), then run the task again with its stack output command.';

/** Words for exit code 137, which ECS gives a container it had to SIGKILL (not one of the CLI's own codes). */
const KILLED_MEANING = 'killed: ECS sent SIGKILL after stopTimeout, or the task ran out of memory';

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

/** Props of {@link TaskFailureRules}. */
export interface TaskFailureRulesProps {
  /** The cluster whose tasks are watched. */
  readonly cluster: ecs.ICluster;
  /** Where the alerts go. */
  readonly topic: sns.ITopic;
}

/**
 * EventBridge rules on "ECS Task State Change" for every task a project starts on its cluster,
 * told apart by their task group (`taskGroup()`: `pg-s3-backup:<database>`,
 * `pg-s3-restore:<database>`, `pg-s3-drill:<database>`), scheduled or run by the stack output
 * commands (which set the group):
 * - for the backup and restore tasks (one container each), one rule per exit code of
 *   `EXIT_CODE_WORDS` (137 killed included), whose pattern holds the code so that its alert
 *   states the code's word, and one rule for any other non-zero code;
 * - for the drill, whose task has a sidecar (the scratch server), one rule for a non-zero exit
 *   code of any container: a pattern on `containers.exitCode` matches any container, and the
 *   event lists them in no documented order, so its alert names no code rather than risk
 *   naming the sidecar's (the drill's failed alarm and its log say which);
 * - one rule for a task of any kind that never started (`stopCode: TaskFailedToStart`, e.g. the
 *   image or the secret could not be fetched), which has no exit code.
 * Each sends the topic a sentence a person can act on, in AWS Chatbot's custom notification
 * format (see `chatNotification`), naming the task group (kind and database), the task, ECS's
 * reason, the exit code and its word where the event tells them, and what to do. The task's
 * own stage is not in the ECS event (a container reports only its exit code): the log has it.
 *
 * A project has one set, whatever its number of databases (11 rules, against EventBridge's
 * default quota of 300 per bus): get it with {@link TaskFailureRules.of}.
 */
export class TaskFailureRules extends Construct {
  /**
   * The rule set of `cluster`, created on first use as its child `TaskFailureRules`. Every task
   * on the cluster in one of the project's groups alerts `topic`, so all of them must alert the
   * same topic: a second topic for the same cluster is refused.
   */
  public static of(cluster: ecs.ICluster, topic: sns.ITopic): TaskFailureRules {
    const existing = cluster.node.tryFindChild(RULES_ID);
    if (existing instanceof TaskFailureRules) {
      if (!sameTopic(existing.topic, topic)) {
        throw new Error(
          `Task failure alerts: the tasks on cluster ${cluster.node.path} already alert topic ${existing.topic.node.path}, not ${topic.node.path}. ` +
            'The failure rules watch the whole cluster: give every PostgresBackup that shares a cluster the same alarmTopic, or each its own cluster.',
        );
      }
      return existing;
    }
    return new TaskFailureRules(cluster, RULES_ID, { cluster, topic });
  }

  /** The topic the rules publish to. */
  public readonly topic: sns.ITopic;
  /** A backup or restore task stopped with an exit code: one rule per code, then one for any other code (last). */
  public readonly failedRules: readonly events.Rule[];
  /** A drill task stopped with a non-zero exit code in some container. */
  public readonly drillFailedRule: events.Rule;
  /** A task of any kind failed to start. */
  public readonly failedToStartRule: events.Rule;

  private constructor(scope: Construct, id: string, props: TaskFailureRulesProps) {
    super(scope, id);
    this.topic = props.topic;
    const onCluster = (kinds: readonly TaskKind[]) => ({
      clusterArn: [props.cluster.clusterArn],
      lastStatus: ['STOPPED'],
      group: kinds.flatMap((k) => events.Match.prefix(TASK_GROUP_PREFIXES[k])),
    });
    const rule = (ruleId: string, description: string, detail: Record<string, unknown>, message: events.RuleTargetInput) => {
      const r = new events.Rule(this, ruleId, {
        description: `pg-s3-backup: ${description}`,
        eventPattern: { source: ['aws.ecs'], detailType: ['ECS Task State Change'], detail },
      });
      r.addTarget(new targets.SnsTopic(props.topic, { message }));
      return r;
    };

    const singleContainer: TaskKind[] = ['backup', 'restore'];
    const known = EXIT_CODE_WORDS.map(([code, word]) =>
      rule(
        `Failed${code}`,
        `a backup or restore task stopped with exit code ${code} (${word})`,
        { ...onCluster(singleContainer), containers: { exitCode: [code] } },
        failedMessage(` (exit ${code}, ${word})`, '', `Exit ${code} means: ${meaningOf(code)}.`),
      ),
    );
    const code = events.EventField.fromPath('$.detail.containers[0].exitCode');
    const other = rule(
      'FailedOther',
      'a backup or restore task stopped with another non-zero exit code',
      { ...onCluster(singleContainer), containers: { exitCode: events.Match.anythingBut(0, ...EXIT_CODE_WORDS.map(([c]) => c)) } },
      failedMessage(` (exit ${code})`, '', "That code is none of the task's own: the log says what stopped it."),
    );
    this.failedRules = [...known, other];

    this.drillFailedRule = rule(
      'DrillFailed',
      'a restore drill task stopped with a non-zero exit code',
      { ...onCluster(['drill']), containers: { exitCode: events.Match.anythingBut(0) } },
      failedMessage(
        '',
        ' with a non-zero exit code',
        'The drill task has two containers (the drill and its scratch server) and the event does not say which one exited with which code: the log does.',
      ),
    );

    const { group, taskArn, stoppedReason } = eventFields();
    this.failedToStartRule = rule(
      'FailedToStart',
      'a task failed to start',
      { ...onCluster(['backup', 'restore', 'drill']), stopCode: ['TaskFailedToStart'] },
      chatNotification(
        `${group} did not start`,
        `${group} did not start: task ${taskArn} could not start (${stoppedReason}).`,
        [
          'Typical causes: the image cannot be pulled or the secret cannot be read (no route to ECR or Secrets Manager: NAT or VPC endpoints; a missing JSON field in the secret), or no Fargate capacity.',
          'Fix it, then run the task again with its stack output command.',
        ],
        'TaskFailedToStart',
      ),
    );
  }
}

const RULES_ID = 'TaskFailureRules';

/** The fields of the event every alert copies. */
function eventFields(): { group: string; taskArn: string; stoppedReason: string } {
  return {
    group: events.EventField.fromPath('$.detail.group'),
    taskArn: events.EventField.fromPath('$.detail.taskArn'),
    stoppedReason: events.EventField.fromPath('$.detail.stoppedReason'),
  };
}

/**
 * The alert of a task that stopped: `exit` follows FAILED in the title (` (exit 3, database)`),
 * `how` follows "stopped" (` with a non-zero exit code`), `explanation` ends the description.
 */
function failedMessage(exit: string, how: string, explanation: string): events.RuleTargetInput {
  const { group, taskArn, stoppedReason } = eventFields();
  return chatNotification(
    `${group} FAILED${exit}`,
    `${group} FAILED${exit}: task ${taskArn} stopped${how} (${stoppedReason}). ${explanation}`,
    [READ_THE_LOG, RUN_AGAIN],
    'TaskFailed',
  );
}

/** The meaning of an exit code of `EXIT_CODE_WORDS`, as `--help` states it. */
function meaningOf(code: number): string {
  return EXIT_CODES.find((e) => e.code === code)?.meaning ?? KILLED_MEANING;
}

/** The same topic object, or two references to one topic ARN. */
function sameTopic(a: sns.ITopic, b: sns.ITopic): boolean {
  return a === b || (!Token.isUnresolved(a.topicArn) && a.topicArn === b.topicArn);
}
