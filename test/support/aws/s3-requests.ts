import type { SeenRequest } from '../s3/fault-proxy';
import { Authorization, keyPolicyOf } from './iam';
import { Json, REGION, ResolvedTemplate } from './template';

/**
 * What S3 authorizes for each HTTP request the CLI sends, following S3's "Actions, resources
 * and condition keys" table and its pages on multipart uploads, tagging, conditional writes
 * and SSE-KMS. The context holds the keys S3 sets from the request itself:
 *
 * | request                     | action(s)                                   | context (beyond TLS)                                 |
 * |-----------------------------|---------------------------------------------|------------------------------------------------------|
 * | ListObjectsV2               | s3:ListBucket on the bucket                 | s3:prefix, s3:delimiter, s3:max-keys                 |
 * | PutObject                   | s3:PutObject (+ s3:PutObjectTagging if tags) | s3:if-none-match, s3:if-match, ObjectCreationOperation=true, RequestObjectTag |
 * | CreateMultipartUpload       | s3:PutObject (+ s3:PutObjectTagging if tags) | ObjectCreationOperation=false                        |
 * | UploadPart                  | s3:PutObject                                | ObjectCreationOperation=false                        |
 * | CompleteMultipartUpload     | s3:PutObject                                | s3:if-none-match, s3:if-match, ObjectCreationOperation=true |
 * | AbortMultipartUpload        | s3:AbortMultipartUpload                     |                                                      |
 * | GetObject, HeadObject       | s3:GetObject                                |                                                      |
 * | GET ?tagging / PUT ?tagging | s3:GetObjectTagging / s3:PutObjectTagging   | s3:ExistingObjectTag/<key> of the stored object      |
 *
 * With an SSE-KMS bucket, S3 also uses the key as the caller (`kms:ViaService` S3):
 * GenerateDataKey to create an object or an upload, Decrypt to add to or complete an upload
 * and to read. An unmapped request throws: a new kind of request must be thought about.
 */

/** The bucket of a template, as the requests are evaluated against it. */
export interface BucketUnderTest {
  readonly template: ResolvedTemplate;
  /** Logical ID of the backup bucket in the template. */
  readonly bucketId: string;
  /** The bucket name in the recorded URLs (the local server's bucket). */
  readonly localBucket: string;
}

const TLS = { 'aws:SecureTransport': 'true', 's3:TlsVersion': '1.3' };

/** A caller that is not a role of the template: an operator's role session with its own policies. */
export interface Caller {
  readonly principal: string;
  readonly identityPolicies: ReadonlyArray<{ readonly name: string; readonly policy: Json }>;
}

/** The authorizations behind `requests`, made by a task running as `roleId` (or by another `Caller`). */
export function authorizationsOf(
  requests: readonly SeenRequest[],
  who: string | Caller,
  target: BucketUnderTest,
  /** Objects stored before the first request, with their tags. */
  existing: ReadonlyMap<string, Record<string, string>> = new Map(),
): Authorization[] {
  const t = target.template;
  const bucket = t.attribute(target.bucketId, 'Ref');
  const principal = typeof who === 'string' ? t.sessionOf(who) : who.principal;
  const principalArn = typeof who === 'string' ? t.attribute(who, 'Arn') : undefined;
  const identityPolicies = typeof who === 'string' ? t.identityPolicies(who) : who.identityPolicies;
  const callerAccount = principal.split(':')[4];
  const bucketPolicy = t.resourcePolicy('AWS::S3::BucketPolicy', 'Bucket', 'PolicyDocument', target.bucketId);
  const key = bucketKey(t, target.bucketId);
  const stored = new Map(existing);
  const out: Authorization[] = [];

  for (const r of requests) {
    const url = new URL(r.url, 'http://local');
    const path = decodeURIComponent(url.pathname).replace(/^\//, '');
    if (!path.startsWith(target.localBucket)) throw new Error(`${r.method} ${r.url} is not for bucket ${target.localBucket}`);
    const objectKey = path.slice(target.localBucket.length + 1);
    const q = url.searchParams;
    const h = (name: string) => (typeof r.headers[name] === 'string' ? r.headers[name] : undefined);
    const objectArn = `arn:aws:s3:::${bucket}/${objectKey}`;
    const ask = (action: string, resource: string, context: Record<string, string | string[]>, what: string = r.operation): void => {
      out.push({
        description: `${what} ${objectKey || `?prefix=${q.get('prefix') ?? ''}`} (${action})`,
        principal,
        principalArn,
        action,
        resource,
        context: { ...TLS, ...context },
        identityPolicies,
        resourcePolicy: bucketPolicy,
      });
    };
    const useKey = (action: 'kms:GenerateDataKey' | 'kms:Decrypt'): void => {
      if (!key) return;
      out.push({
        description: `${r.operation} ${objectKey}: S3 uses the bucket key (${action})`,
        principal,
        action,
        resource: key.arn,
        context: { 'kms:ViaService': `s3.${REGION}.amazonaws.com`, 'kms:CallerAccount': callerAccount },
        identityPolicies,
        resourcePolicy: key.policy,
      });
    };
    const conditional = (): Record<string, string> => ({
      ...(h('if-none-match') !== undefined ? { 's3:if-none-match': h('if-none-match')! } : {}),
      ...(h('if-match') !== undefined ? { 's3:if-match': h('if-match')! } : {}),
    });
    const tags = tagsOf(h('x-amz-tagging'));
    const requestTags = (): Record<string, string | string[]> =>
      tags
        ? {
            ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`s3:RequestObjectTag/${k}`, v])),
            's3:RequestObjectTagKeys': Object.keys(tags),
          }
        : {};
    const tagOnCreate = (): void => {
      if (tags)
        ask(
          's3:PutObjectTagging',
          objectArn,
          { ...requestTags(), ...existingTags(stored.get(objectKey)) },
          `${r.operation} with x-amz-tagging`,
        );
    };

    switch (r.operation) {
      case 'ListObjectsV2':
        ask('s3:ListBucket', `arn:aws:s3:::${bucket}`, {
          's3:prefix': q.get('prefix') ?? '',
          ...(q.has('delimiter') ? { 's3:delimiter': q.get('delimiter')! } : {}),
          ...(q.has('max-keys') ? { 's3:max-keys': q.get('max-keys')! } : {}),
        });
        break;
      case 'PutObject':
        if (q.has('tagging')) {
          ask('s3:PutObjectTagging', objectArn, { ...existingTags(stored.get(objectKey)) });
          break;
        }
        ask('s3:PutObject', objectArn, { ...conditional(), 's3:ObjectCreationOperation': 'true', ...requestTags() });
        tagOnCreate();
        useKey('kms:GenerateDataKey');
        stored.set(objectKey, tags ?? {});
        break;
      case 'CreateMultipartUpload':
        ask('s3:PutObject', objectArn, { 's3:ObjectCreationOperation': 'false', ...requestTags() });
        tagOnCreate();
        useKey('kms:GenerateDataKey');
        break;
      case 'UploadPart':
        ask('s3:PutObject', objectArn, { 's3:ObjectCreationOperation': 'false' });
        useKey('kms:Decrypt');
        break;
      case 'CompleteMultipartUpload':
        ask('s3:PutObject', objectArn, { ...conditional(), 's3:ObjectCreationOperation': 'true' });
        useKey('kms:Decrypt');
        stored.set(objectKey, stored.get(objectKey) ?? {});
        break;
      case 'AbortMultipartUpload':
        ask('s3:AbortMultipartUpload', objectArn, {});
        break;
      case 'GetObject':
      case 'HeadObject':
        if (q.has('tagging')) {
          ask('s3:GetObjectTagging', objectArn, { ...existingTags(stored.get(objectKey)) });
          break;
        }
        ask('s3:GetObject', objectArn, { ...existingTags(stored.get(objectKey)) });
        useKey('kms:Decrypt');
        break;
      default:
        throw new Error(`no IAM mapping for ${r.method} ${r.url}: add it to test/support/aws/s3-requests.ts`);
    }
  }
  return out;
}

function tagsOf(header: string | undefined): Record<string, string> | undefined {
  if (!header) return undefined;
  return Object.fromEntries([...new URLSearchParams(header)].map(([k, v]) => [k, v]));
}

function existingTags(tags: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(tags ?? {}).map(([k, v]) => [`s3:ExistingObjectTag/${k}`, v]));
}

/** The bucket's SSE-KMS key and the key policy that governs it. */
export function bucketKey(t: ResolvedTemplate, bucketId: string): { arn: string; policy: Json } | undefined {
  const rules = t.resources[bucketId].Properties?.BucketEncryption?.ServerSideEncryptionConfiguration ?? [];
  const id = rules.map((r: any) => r.ServerSideEncryptionByDefault?.KMSMasterKeyID).find((k: unknown) => k !== undefined);
  if (id === undefined) return undefined;
  const keyId = t.referenced(id);
  const arn = keyId && t.resources[keyId]?.Type === 'AWS::KMS::Key' ? t.attribute(keyId, 'Arn') : t.string(id);
  return { arn, policy: keyPolicyOf(t, arn) };
}
