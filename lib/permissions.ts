import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';

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
 * Object actions `verify`, `list` and `restore` need: the dump and its manifest (and
 * globals), and the tier tag that `list` shows.
 */
export const READER_OBJECT_ACTIONS: readonly string[] = ['s3:GetObject', 's3:GetObjectTagging'];

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

function kmsStatement(key: kms.IKey | undefined, actions: readonly string[]): iam.PolicyStatement[] {
  return key ? [new iam.PolicyStatement({ actions: [...actions], resources: [key.keyArn] })] : [];
}

/** Statements for the backup task role: create objects in its folder, nothing else. */
export function writerStatements(target: BackupFolder): iam.PolicyStatement[] {
  return [
    folderListStatement(target),
    new iam.PolicyStatement({ actions: [...WRITER_OBJECT_ACTIONS], resources: [target.bucket.arnForObjects(`${target.folder}*`)] }),
    ...kmsStatement(target.bucket.encryptionKey, KMS_WRITE_ACTIONS),
  ];
}

/** Statements for a reader (restore drill, restore operator): list and read one folder. */
export function readerStatements(target: BackupFolder): iam.PolicyStatement[] {
  return [
    folderListStatement(target),
    new iam.PolicyStatement({ actions: [...READER_OBJECT_ACTIONS], resources: [target.bucket.arnForObjects(`${target.folder}*`)] }),
    ...kmsStatement(target.bucket.encryptionKey, KMS_READ_ACTIONS),
  ];
}

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
