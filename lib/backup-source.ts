import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';

/**
 * What a restore drill or a restore task needs from the backup it reads: where the backups
 * are, how to run the CLI next to it, where alerts and logs go. `PostgresBackup` implements it;
 * the drill and restore constructs depend on this interface, not on that class.
 */
export interface IBackupSource {
  readonly databaseName: string;
  readonly bucket: s3.IBucket;
  /** Key prefix of this database's backups, ending in '/'. */
  readonly folder: string;
  readonly cluster: ecs.ICluster;
  readonly image: ecs.ContainerImage;
  readonly subnets: ec2.SelectedSubnets;
  readonly logGroup: logs.ILogGroup;
  readonly alarmTopic: sns.ITopic;
  readonly deadLetterQueue: sqs.IQueue;
  /** Environment every CLI container of this backup gets: bucket, prefix, project, metrics namespace. */
  storageEnvironment(): Record<string, string>;
  /** Lets `grantee` list this database's folder and read its backups (and decrypt them). */
  grantRestore(grantee: iam.IGrantable): iam.Grant;
  metricDrillSuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
  metricDrillFailure(props?: cloudwatch.MetricOptions): cloudwatch.Metric;
}
