import { Duration } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Options of {@link scheduleCliTask}. */
export interface ScheduledCliTaskOptions {
  readonly cluster: ecs.ICluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly securityGroup: ec2.ISecurityGroup;
  /** @default - the VPC's private subnets */
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly schedule: scheduler.ScheduleExpression;
  /** @default - the scheduler's default (enabled) */
  readonly enabled?: boolean;
  readonly description: string;
  /** The ECS task group the task is started in (`taskGroup()`), which its failure alerts name and watch. */
  readonly group: string;
  /** Scheduler retries when RunTask itself fails. @default 2 */
  readonly retryAttempts?: number;
  /** @default Duration.hours(1) */
  readonly maxEventAge?: Duration;
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * An EventBridge Scheduler schedule (`Schedule` in `scope`) that runs a CLI task definition on
 * Fargate in private subnets without a public IP, with retries and a dead-letter queue: how
 * the backup and the restore drill are both started.
 */
export function scheduleCliTask(scope: Construct, options: ScheduledCliTaskOptions): scheduler.Schedule {
  return new scheduler.Schedule(scope, 'Schedule', {
    schedule: options.schedule,
    description: options.description,
    enabled: options.enabled,
    target: new targets.EcsRunFargateTask(options.cluster, {
      taskDefinition: options.taskDefinition,
      vpcSubnets: options.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [options.securityGroup],
      assignPublicIp: false,
      group: options.group,
      retryAttempts: options.retryAttempts ?? 2,
      maxEventAge: options.maxEventAge ?? Duration.hours(1),
      deadLetterQueue: options.deadLetterQueue,
    }),
  });
}
