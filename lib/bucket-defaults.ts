import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeAccessLogsBucket } from './private/acknowledgements';

/** How long each retention tier keeps a backup. The task tags every object `tier=<tier>`. */
export interface RetentionTiers {
  /** Backups tagged `tier=daily`. @default Duration.days(35) */
  readonly daily?: Duration;
  /** Backups tagged `tier=weekly` (taken on Sundays, UTC). @default Duration.days(84) - 12 weeks */
  readonly weekly?: Duration;
  /** Backups tagged `tier=monthly` (taken on the 1st, UTC). @default Duration.days(395) - 13 months */
  readonly monthly?: Duration;
}

/** The default tiers, in days. */
export const DEFAULT_RETENTION_DAYS = { daily: 35, weekly: 84, monthly: 395 } as const;

/** Days an expired backup's noncurrent version is kept. */
export const DEFAULT_NONCURRENT_VERSION_DAYS = 7;

/** Optional move to a cheaper storage class. */
export interface BackupTransition {
  /** The storage class, e.g. `s3.StorageClass.GLACIER_INSTANT_RETRIEVAL`. */
  readonly storageClass: s3.StorageClass;
  /** Age at which objects move. Tiers that expire before this age are not transitioned. */
  readonly after: Duration;
}

/** Object Lock default retention for new objects (write once, read many). */
export interface BackupObjectLock {
  /**
   * `governance`: users with s3:BypassGovernanceRetention can still delete (no backup role has it).
   * `compliance`: nobody, root included, can delete a locked version before it expires.
   */
  readonly mode: 'governance' | 'compliance';
  /** How long each new object version is locked. */
  readonly duration: Duration;
}

/** Settings of a bucket created for backups. */
export interface BackupBucketOptions {
  /** Retention tiers by object tag. @default - 35 days / 12 weeks / 13 months */
  readonly retention?: RetentionTiers;
  /** Delete versions this long after they stop being current. @default Duration.days(7) */
  readonly noncurrentVersionExpiration?: Duration;
  /** Move backups to a cheaper storage class after a while. @default - no transition */
  readonly transition?: BackupTransition;
  /** Encrypt with this KMS key. @default - S3-managed keys (SSE-S3) */
  readonly encryptionKey?: kms.IKey;
  /**
   * Object Lock default retention. Turning it on is permanent for the bucket, and it cannot
   * be added to an existing bucket later through this construct.
   * @default - no Object Lock
   */
  readonly objectLock?: BackupObjectLock;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** Days to keep the server access logs. @default 90 */
  readonly accessLogRetentionDays?: number;
}

/**
 * Lifecycle rules for backups: abort multipart uploads left by crashed tasks after a day,
 * expire each retention tier by its tag, and expire noncurrent versions (in a versioned
 * bucket an expiration only adds a delete marker).
 */
export function backupLifecycleRules(options: BackupBucketOptions = {}): s3.LifecycleRule[] {
  const days = {
    daily: options.retention?.daily ?? Duration.days(DEFAULT_RETENTION_DAYS.daily),
    weekly: options.retention?.weekly ?? Duration.days(DEFAULT_RETENTION_DAYS.weekly),
    monthly: options.retention?.monthly ?? Duration.days(DEFAULT_RETENTION_DAYS.monthly),
  };
  const tierRule = (tier: 'daily' | 'weekly' | 'monthly'): s3.LifecycleRule => {
    const expiration = days[tier];
    const t = options.transition;
    const moves = t !== undefined && t.after.toDays() < expiration.toDays();
    return {
      id: `Expire${tier[0].toUpperCase()}${tier.slice(1)}`,
      tagFilters: { tier },
      expiration,
      transitions: moves ? [{ storageClass: t.storageClass, transitionAfter: t.after }] : undefined,
    };
  };
  return [
    { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    {
      id: 'ExpireNoncurrentVersions',
      noncurrentVersionExpiration: options.noncurrentVersionExpiration ?? Duration.days(DEFAULT_NONCURRENT_VERSION_DAYS),
      expiredObjectDeleteMarker: true,
    },
    tierRule('daily'),
    tierRule('weekly'),
    tierRule('monthly'),
  ];
}

/**
 * Secure defaults for the backup bucket, in one place callers can override (spread the
 * result and replace what you need): all public access blocked, TLS-only bucket policy,
 * S3-managed encryption (or the given KMS key), versioning, bucket-owner-enforced
 * ownership, RETAIN, the lifecycle of {@link backupLifecycleRules} and optional Object Lock.
 */
export function defaultBackupBucketProps(options: BackupBucketOptions = {}): s3.BucketProps {
  const lock = options.objectLock;
  return {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    encryption: options.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
    encryptionKey: options.encryptionKey,
    bucketKeyEnabled: options.encryptionKey ? true : undefined,
    versioned: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy: options.removalPolicy ?? RemovalPolicy.RETAIN,
    lifecycleRules: backupLifecycleRules(options),
    objectLockEnabled: lock ? true : undefined,
    objectLockDefaultRetention: lock
      ? lock.mode === 'compliance'
        ? s3.ObjectLockRetention.compliance(lock.duration)
        : s3.ObjectLockRetention.governance(lock.duration)
      : undefined,
  };
}

/** Secure defaults for the server access log bucket (a log target cannot use Object Lock). */
export function defaultAccessLogBucketProps(options: BackupBucketOptions = {}): s3.BucketProps {
  return {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    // Server access log delivery supports SSE-S3 only.
    encryption: s3.BucketEncryption.S3_MANAGED,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy: options.removalPolicy ?? RemovalPolicy.RETAIN,
    lifecycleRules: [
      { id: 'ExpireAccessLogs', expiration: Duration.days(options.accessLogRetentionDays ?? 90) },
      { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
    ],
  };
}

/** The backup bucket and the bucket that receives its server access logs. */
export interface BackupBuckets {
  readonly bucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;
}

/** Creates the backup bucket with {@link defaultBackupBucketProps} and its access-log bucket. */
export function createBackupBuckets(scope: Construct, options: BackupBucketOptions = {}): BackupBuckets {
  const accessLogsBucket = new s3.Bucket(scope, 'AccessLogsBucket', defaultAccessLogBucketProps(options));
  const bucket = new s3.Bucket(scope, 'Bucket', defaultBackupBucketProps(options));
  // Server access logs delivered under a bucket policy (not the legacy log-delivery ACL, which
  // BUCKET_OWNER_ENFORCED forbids), whatever the app's feature flags say.
  const logPrefix = 'backup-bucket/';
  (bucket.node.defaultChild as s3.CfnBucket).loggingConfiguration = {
    destinationBucketName: accessLogsBucket.bucketName,
    logFilePrefix: logPrefix,
  };
  accessLogsBucket.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
      actions: ['s3:PutObject'],
      resources: [accessLogsBucket.arnForObjects(`${logPrefix}*`)],
      conditions: { ArnLike: { 'aws:SourceArn': bucket.bucketArn }, StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
  );
  acknowledgeAccessLogsBucket(accessLogsBucket);
  const lock = options.objectLock;
  const daily = options.retention?.daily ?? Duration.days(DEFAULT_RETENTION_DAYS.daily);
  if (lock && lock.duration.toDays() > daily.toDays()) {
    Annotations.of(bucket).addWarningV2(
      'pg-s3-backup:objectLockOutlivesRetention',
      `Object Lock keeps every backup version for ${lock.duration.toDays()} days, longer than the daily tier's ${daily.toDays()} days: ` +
        'daily backups disappear from listings on time but are stored (and billed) until their lock ends. Shorten objectLock or lengthen retention.daily if that is not intended.',
    );
  }
  return { bucket, accessLogsBucket };
}
