import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

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
}

/**
 * The SNS topic that receives every alert: TLS-only topic policy, encrypted with a
 * customer-managed key that CloudWatch alarms and EventBridge rules may use (the AWS
 * managed `alias/aws/sns` key cannot be used by either service).
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
  }
}
