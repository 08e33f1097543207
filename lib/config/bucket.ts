import { BUCKET_NAME_PATTERN } from '../../task/src/contract';
import { DEFAULT_NONCURRENT_VERSION_DAYS, DEFAULT_RETENTION_DAYS } from '../bucket-defaults';
import { ContextReader, Raw, show } from './reader';

export type TransitionClass = 'STANDARD_IA' | 'ONEZONE_IA' | 'INTELLIGENT_TIERING' | 'GLACIER_IR' | 'GLACIER' | 'DEEP_ARCHIVE';
const TRANSITION_CLASSES: readonly TransitionClass[] = [
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
];

/** The bucket's settings; each left out is the bucket defaults' (bucket-defaults.ts). */
export interface BucketConfig {
  /** Retention tiers by the `tier` tag, in days. @default 35 / 84 / 395 */
  readonly retention?: { readonly dailyDays?: number; readonly weeklyDays?: number; readonly monthlyDays?: number };
  /** @default 7 */
  readonly noncurrentVersionDays?: number;
  /** @default - no transition */
  readonly transition?: { readonly storageClass: TransitionClass; readonly afterDays: number };
  /** @default - no Object Lock */
  readonly objectLock?: { readonly mode: 'governance' | 'compliance'; readonly days: number };
  /** @default - SSE-S3 */
  readonly bucketKmsKeyArn?: string;
  /** Use this bucket instead of creating one. @default - a bucket is created */
  readonly existingBucket?: { readonly name: string; readonly kmsKeyArn?: string };
}

/** Validates the bucket: retention, versions, transition, Object Lock, encryption, or an existing bucket. */
export function parseBucket(r: ContextReader, ctx: Raw): BucketConfig {
  const retentionRaw = r.obj('retention', ctx.retention, ['dailyDays', 'weeklyDays', 'monthlyDays']);
  const retention = retentionRaw && {
    dailyDays: r.int('retention.dailyDays', retentionRaw.dailyDays, 1, 36500, { default: DEFAULT_RETENTION_DAYS.daily }),
    weeklyDays: r.int('retention.weeklyDays', retentionRaw.weeklyDays, 1, 36500, { default: DEFAULT_RETENTION_DAYS.weekly }),
    monthlyDays: r.int('retention.monthlyDays', retentionRaw.monthlyDays, 1, 36500, { default: DEFAULT_RETENTION_DAYS.monthly }),
  };

  let transition: BucketConfig['transition'];
  const transitionRaw = r.obj('transition', ctx.transition, ['storageClass', 'afterDays']);
  if (transitionRaw) {
    const storageClass = transitionRaw.storageClass;
    const afterDays = r.int('transition.afterDays', transitionRaw.afterDays, 0, 36500, { default: 30 }) ?? 30;
    if (!(TRANSITION_CLASSES as readonly unknown[]).includes(storageClass)) {
      r.problems.push(`transition.storageClass must be one of ${TRANSITION_CLASSES.join(', ')}, got ${show(storageClass)}.`);
    } else {
      if ((storageClass === 'STANDARD_IA' || storageClass === 'ONEZONE_IA') && afterDays < 30) {
        r.problems.push(`transition.afterDays must be at least 30 for ${storageClass} (S3's rule), got ${afterDays}.`);
      }
      transition = { storageClass: storageClass as TransitionClass, afterDays };
    }
  }

  let objectLock: BucketConfig['objectLock'];
  const lockRaw = r.obj('objectLock', ctx.objectLock, ['mode', 'days']);
  if (lockRaw) {
    const mode = lockRaw.mode;
    if (mode !== 'governance' && mode !== 'compliance')
      r.problems.push(`objectLock.mode must be "governance" or "compliance", got ${show(mode)}.`);
    if (lockRaw.days === undefined) r.problems.push('objectLock.days is required: how long each backup is locked, e.g. 35.');
    const days = r.int('objectLock.days', lockRaw.days, 1, 36500, { default: 35 }) ?? 35;
    if (mode === 'governance' || mode === 'compliance') objectLock = { mode, days };
  }

  const bucketKmsKeyArn = r.str('bucketKmsKeyArn', ctx.bucketKmsKeyArn, { pattern: /^arn:aws[a-z-]*:kms:/, hint: 'a KMS key ARN.' });
  let existingBucket: BucketConfig['existingBucket'];
  const existingRaw = r.obj('existingBucket', ctx.existingBucket, ['name', 'kmsKeyArn']);
  if (existingRaw) {
    const name = r.str('existingBucket.name', existingRaw.name, {
      required: true,
      pattern: BUCKET_NAME_PATTERN,
      hint: 'an S3 bucket name.',
    });
    const kmsKeyArn = r.str('existingBucket.kmsKeyArn', existingRaw.kmsKeyArn, {
      pattern: /^arn:aws[a-z-]*:kms:/,
      hint: 'the KMS key ARN the bucket encrypts with, if any.',
    });
    if (name) existingBucket = { name, kmsKeyArn };
    const ignored = ['retention', 'noncurrentVersionDays', 'transition', 'objectLock', 'bucketKmsKeyArn'].filter(
      (k) => ctx[k] !== undefined,
    );
    if (ignored.length > 0)
      r.problems.push(
        `${ignored.join(', ')} configure a bucket the stack creates, but existingBucket is set. Configure that bucket yourself and remove ${ignored.join(', ')}, or remove existingBucket.`,
      );
  }
  const noncurrentVersionDays = r.int('noncurrentVersionDays', ctx.noncurrentVersionDays, 1, 36500, {
    default: DEFAULT_NONCURRENT_VERSION_DAYS,
  });
  return { retention, noncurrentVersionDays, transition, objectLock, bucketKmsKeyArn, existingBucket };
}
