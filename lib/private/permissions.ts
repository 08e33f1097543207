import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { trimPrefix } from '../../task/src/contract';

/**
 * Object actions the backup task needs under its own folder, and nothing more
 * (checked against task/src: the `backup` command only lists, puts and aborts).
 *
 * - `s3:PutObject`: PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload.
 * - `s3:PutObjectTagging`: the `tier=` tag is sent with the object (`Tagging` header), which
 *   S3 authorizes as PutObjectTagging; lifecycle retention depends on it.
 * - `s3:AbortMultipartUpload`: a failed or interrupted dump leaves no parts behind.
 *
 * Deliberately absent: GetObject (a compromised task cannot read other dumps), every
 * Delete*, PutObjectRetention / PutObjectLegalHold / BypassGovernanceRetention (default
 * Object Lock retention applies without them) and every bucket-configuration action.
 * This is why the task's policy is written here instead of using `bucket.grantPut()`,
 * which also grants PutObjectRetention and PutObjectLegalHold.
 */
export const WRITER_OBJECT_ACTIONS: readonly string[] = ['s3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload'];

/**
 * Object actions `verify`, `list` and `restore` need: the dump, its manifest and globals
 * (GetObject, which also authorizes HEAD). The tier that `list` shows is read from the
 * manifest, so no tagging action is needed.
 */
export const READER_OBJECT_ACTIONS: readonly string[] = ['s3:GetObject'];

/** ListObjectsV2, conditioned on the prefix (see {@link folderListStatement}). */
export const LIST_ACTIONS: readonly string[] = ['s3:ListBucket'];

/** KMS actions to write SSE-KMS objects (multipart uploads need Decrypt to complete). */
export const KMS_WRITE_ACTIONS: readonly string[] = ['kms:GenerateDataKey', 'kms:Decrypt'];

/** KMS actions to read SSE-KMS objects. */
export const KMS_READ_ACTIONS: readonly string[] = ['kms:Decrypt'];

/**
 * Actions no backup role may hold on the bucket. Tests assert their absence; listed here
 * so that the promise and its proof read from one place.
 */
export const FORBIDDEN_WRITER_ACTIONS: readonly string[] = [
  's3:GetObject',
  's3:GetObjectVersion',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:DeleteBucket',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:PutBucketPolicy',
  's3:PutLifecycleConfiguration',
  's3:PutBucketVersioning',
  's3:PutBucketObjectLockConfiguration',
  's3:PutEncryptionConfiguration',
  's3:*',
];

/** The folder of one database's backups (`<prefix>/<database>/`), as the task names it. */
export interface BackupFolder {
  readonly bucket: s3.IBucket;
  /** Key prefix ending in '/', e.g. `orders/app/`. */
  readonly folder: string;
}

/**
 * `s3:ListBucket` limited to one folder. The backup command lists
 * `<folder><YYYYMMDDHHmm>` to pick a key that does not exist yet (it never overwrites),
 * and lists the dump's own key to check the stored size; `verify --latest` lists the folder
 * to find the newest complete backup.
 */
function folderListStatement(target: BackupFolder): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: [...LIST_ACTIONS],
    resources: [target.bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${target.folder}*`] } },
  });
}

/**
 * The bucket key's actions, through S3 only (`kms:ViaService`): a role can have S3 use the key
 * for its own requests, but cannot call KMS with it directly.
 */
function kmsStatement(bucket: s3.IBucket, actions: readonly string[]): iam.PolicyStatement[] {
  const key: kms.IKey | undefined = bucket.encryptionKey;
  if (!key) return [];
  return [
    new iam.PolicyStatement({
      actions: [...actions],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(bucket).region}.amazonaws.com` } },
    }),
  ];
}

/** Statements for the backup task role: create objects in its folder, nothing else. */
export function writerStatements(target: BackupFolder): iam.PolicyStatement[] {
  return [
    folderListStatement(target),
    new iam.PolicyStatement({ actions: [...WRITER_OBJECT_ACTIONS], resources: [target.bucket.arnForObjects(`${target.folder}*`)] }),
    ...kmsStatement(target.bucket, KMS_WRITE_ACTIONS),
  ];
}

/** Statements for a reader (restore drill, restore operator): list and read one folder. */
export function readerStatements(target: BackupFolder): iam.PolicyStatement[] {
  return [
    folderListStatement(target),
    new iam.PolicyStatement({ actions: [...READER_OBJECT_ACTIONS], resources: [target.bucket.arnForObjects(`${target.folder}*`)] }),
    ...kmsStatement(target.bucket, KMS_READ_ACTIONS),
  ];
}

/** The key patterns an operator reads: `<prefix>/*` for each distinct prefix (`*` for none). */
export function operatorKeyPatterns(prefixes: readonly string[]): string[] {
  return [...new Set(prefixes.map(trimPrefix))].map((p) => (p ? `${p}/*` : '*'));
}

/**
 * Statements for an operator's read-only access from a laptop or a monitoring host: `list`,
 * `status`, `verify` and `restore` of every database under the given key prefixes, and
 * nothing that writes. `status` lists `<prefix>/` with a delimiter to find the databases,
 * so the listing is allowed under the prefix, not just under each database folder.
 */
export function operatorReadStatements(bucket: s3.IBucket, prefixes: readonly string[]): iam.PolicyStatement[] {
  const under = operatorKeyPatterns(prefixes);
  return [
    new iam.PolicyStatement({
      sid: 'ListBackups',
      actions: [...LIST_ACTIONS],
      resources: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': under } },
    }),
    new iam.PolicyStatement({
      sid: 'ReadBackups',
      actions: [...READER_OBJECT_ACTIONS],
      resources: under.map((u) => bucket.arnForObjects(u)),
    }),
    ...kmsStatement(bucket, KMS_READ_ACTIONS),
  ];
}

/**
 * `kms:Decrypt` on the customer-managed key of a database secret, through Secrets Manager
 * only. ECS reads the secret with the execution role at task start, and
 * `secret.grantRead()` adds no KMS permission for a secret and key imported by ARN: without
 * this the task never starts. None for a secret encrypted with the AWS managed key.
 */
export function secretKeyStatements(secret: secretsmanager.ISecret): iam.PolicyStatement[] {
  const key = secret.encryptionKey;
  if (!key) return [];
  return [
    new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(secret).region}.amazonaws.com` } },
    }),
  ];
}

/**
 * The bucket policy statements that hold a writer role to creating new objects, whatever its
 * own policy says (S3 "Enforce conditional writes on Amazon S3 buckets"):
 *
 * - `s3:PutObject` is denied unless the request carries `If-None-Match` (the key must not
 *   exist). `s3:ObjectCreationOperation` is false for CreateMultipartUpload and UploadPart,
 *   which carry no conditional header, and true for PutObject, CopyObject and
 *   CompleteMultipartUpload: so a plain PUT, a PUT with `If-Match` over a listed ETag and an
 *   unconditional completion are all refused, while the task's own uploads pass.
 * - `s3:PutObjectTagging` is denied on an object that already has a `tier` tag, so a stored
 *   monthly backup cannot be re-tagged `daily` to expire early. Tagging at creation
 *   (`x-amz-tagging` on a new key) is unaffected. Removing tags needs
 *   `s3:DeleteObjectTagging`, which no backup role has.
 */
export function writerEnforcementStatements(bucket: s3.IBucket): iam.PolicyStatement[] {
  // Every backup task role (any database, any project) by its path: one pair of statements
  // for a bucket of any number of databases (S3 allows 20 KB of bucket policy), identical for
  // each database, so that the policy merges them.
  const writers = {
    ArnLike: { 'aws:PrincipalArn': `arn:${Aws.PARTITION}:iam::${Stack.of(bucket).account}:role${BACKUP_WRITER_ROLE_PATH}*` },
  };
  const objects = bucket.arnForObjects('*');
  return [
    new iam.PolicyStatement({
      sid: 'BackupWritersCreateOnly',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject'],
      resources: [objects],
      conditions: { ...writers, Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
    }),
    new iam.PolicyStatement({
      sid: 'BackupWritersNoRetagging',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObjectTagging'],
      resources: [objects],
      conditions: { ...writers, Null: { 's3:ExistingObjectTag/tier': 'false' } },
    }),
  ];
}

/**
 * The IAM path of every backup task role: the bucket policy's create-only rules
 * ({@link writerEnforcementStatements}) name the writers by it (`aws:PrincipalArn`).
 */
export const BACKUP_WRITER_ROLE_PATH = '/pg-s3-backup/backup-writer/';

/** Adds `statements` to `grantee`'s policy and returns the grant. */
export function grantStatements(grantee: iam.IGrantable, statements: readonly iam.PolicyStatement[]): iam.Grant {
  let grant: iam.Grant | undefined;
  for (const s of statements) {
    const g = iam.Grant.addToPrincipal({
      grantee,
      actions: s.actions,
      resourceArns: s.resources,
      conditions: s.conditions as Record<string, Record<string, unknown>> | undefined,
    });
    grant = grant ? grant.combine(g) : g;
  }
  return grant!;
}
