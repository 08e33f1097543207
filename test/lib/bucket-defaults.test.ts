import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { backupFixture, testStack } from '../support/cdk';
import { createBackupBuckets, defaultBackupBucketProps } from '../../lib';

const BACKUP_BUCKET = { LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'backup-bucket/' }) };

describe('backup bucket', () => {
  test('blocks all public access, encrypts with S3-managed keys, is versioned, owner-enforced and retained', () => {
    const { template } = backupFixture();
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        ...BACKUP_BUCKET,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        ObjectLockEnabled: Match.absent(),
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('its policy denies every request without TLS (and below TLS 1.2)', () => {
    const { template } = backupFixture();
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(2);
    for (const p of policies) {
      expect(p.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      );
    }
  });

  test('writes server access logs to a separate bucket under a bucket policy for the logging service', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('AccessLogsBucket') }, LogFilePrefix: 'backup-bucket/' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('AccessLogsBucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: Match.objectLike({ ArnLike: Match.anyValue() }),
          }),
        ]),
      },
    });
  });

  test('lifecycle: aborts incomplete multipart uploads after 1 day, expires noncurrent versions, and retains by tier tag (35 d / 12 w / 13 mo)', () => {
    const { template } = backupFixture();
    template.hasResourceProperties('AWS::S3::Bucket', {
      ...BACKUP_BUCKET,
      LifecycleConfiguration: {
        Rules: [
          { Id: 'AbortIncompleteMultipartUploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
          {
            Id: 'ExpireNoncurrentVersions',
            Status: 'Enabled',
            NoncurrentVersionExpiration: { NoncurrentDays: 7 },
            ExpiredObjectDeleteMarker: true,
          },
          { Id: 'ExpireDaily', Status: 'Enabled', TagFilters: [{ Key: 'tier', Value: 'daily' }], ExpirationInDays: 35 },
          { Id: 'ExpireWeekly', Status: 'Enabled', TagFilters: [{ Key: 'tier', Value: 'weekly' }], ExpirationInDays: 84 },
          { Id: 'ExpireMonthly', Status: 'Enabled', TagFilters: [{ Key: 'tier', Value: 'monthly' }], ExpirationInDays: 395 },
        ],
      },
    });
  });

  test('tiers, noncurrent expiry and a transition to a cheaper class are configurable; short tiers are not transitioned', () => {
    const { stack } = testStack();
    createBackupBuckets(stack, {
      retention: { daily: Duration.days(14), weekly: Duration.days(60), monthly: Duration.days(730) },
      noncurrentVersionExpiration: Duration.days(3),
      transition: { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, after: Duration.days(30) },
    });
    const rules = Template.fromStack(stack).findResources('AWS::S3::Bucket', BACKUP_BUCKET_MATCH);
    const [bucket] = Object.values(rules);
    const byId = Object.fromEntries(bucket.Properties.LifecycleConfiguration.Rules.map((r: { Id: string }) => [r.Id, r]));
    expect(byId.ExpireNoncurrentVersions.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 3 });
    expect(byId.ExpireDaily).toEqual({
      Id: 'ExpireDaily',
      Status: 'Enabled',
      TagFilters: [{ Key: 'tier', Value: 'daily' }],
      ExpirationInDays: 14,
    });
    expect(byId.ExpireWeekly.Transitions).toEqual([{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }]);
    expect(byId.ExpireMonthly).toMatchObject({
      ExpirationInDays: 730,
      Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
    });
  });

  test('optional Object Lock: default retention in governance or compliance mode', () => {
    for (const mode of ['governance', 'compliance'] as const) {
      const { stack } = testStack();
      createBackupBuckets(stack, { objectLock: { mode, duration: Duration.days(35) } });
      Template.fromStack(stack).hasResourceProperties('AWS::S3::Bucket', {
        ObjectLockEnabled: true,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: mode.toUpperCase(), Days: 35 } } },
        VersioningConfiguration: { Status: 'Enabled' },
      });
    }
  });

  test('warns when Object Lock outlives the daily tier (versions are kept and billed until the lock ends)', () => {
    const { stack } = testStack();
    createBackupBuckets(stack, { objectLock: { mode: 'governance', duration: Duration.days(60) } });
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('Object Lock keeps every backup version for 60 days, longer than the daily tier'),
    );
  });

  test('a KMS key is optional and used with a bucket key', () => {
    const { stack } = testStack();
    const key = new kms.Key(stack, 'Key');
    createBackupBuckets(stack, { encryptionKey: key });
    Template.fromStack(stack).hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
            },
          },
        ],
      },
    });
  });

  test('the defaults are one overridable function', () => {
    const props = defaultBackupBucketProps();
    expect(props).toMatchObject({
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      encryption: s3.BucketEncryption.S3_MANAGED,
    });
    expect(defaultBackupBucketProps({ removalPolicy: RemovalPolicy.DESTROY }).removalPolicy).toBe(RemovalPolicy.DESTROY);
  });
});

const BACKUP_BUCKET_MATCH = { Properties: Match.objectLike(BACKUP_BUCKET) };
