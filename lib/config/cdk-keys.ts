import { CURRENT_VERSION_EXPIRED_FLAGS, FLAGS } from 'aws-cdk-lib/cx-api';
import { show } from './reader';
import { closestKey } from './suggest';

/**
 * The context keys that CDK itself owns, which the app leaves to CDK instead of refusing.
 * What aws-cdk-lib 2.276 reads and the aws-cdk CLI 2.1148 writes (their code, and the context
 * of a real `cdk synth`) has one of these forms, none of which a pg-s3-backup setting has:
 * - a ':' — feature flags (`@aws-cdk/aws-iam:minimizePolicies`, `aws-cdk:enableDiffNoFail`,
 *   `@aws-cdk-containers/…:…`), core settings (`@aws-cdk/core:bootstrapQualifier`), what the
 *   CLI adds to every synth (`aws:cdk:enable-path-metadata`, `aws:cdk:bundling-stacks`,
 *   `@aws-cdk/core:failSynthOnValidationErrors`), and cdk.context.json lookups
 *   (`availability-zones:account=…:region=…`, `ssm:…`, `vpc-provider:…`);
 * - a leading '@' — a package's own namespace (`@aws-cdk/core.slowSynthThreshold`,
 *   `@aws-cdk/aws-ec2.securityGroupDisableInlineRules`);
 * - a leading `cdk-` — `cdk-migrate`, which `cdk migrate` writes into cdk.json;
 * - or one of the plain keys below: `cdk acknowledge` and `cdk cli-telemetry` record theirs in
 *   cdk.context.json, and aws-cdk-lib reads `assets-ecr-repository-name`.
 */
const CDK_PLAIN_KEYS: readonly string[] = ['acknowledged-issue-numbers', 'cli-telemetry', 'assets-ecr-repository-name'];

/** Whether `key` is one of CDK's own context keys (see {@link CDK_PLAIN_KEYS} for the rule). */
export function isCdkContextKey(key: string): boolean {
  return key.includes(':') || key.startsWith('@') || key.startsWith('cdk-') || CDK_PLAIN_KEYS.includes(key);
}

/** Every feature flag the installed aws-cdk-lib knows, current and expired. */
const FEATURE_FLAGS: readonly string[] = [...Object.keys(FLAGS), ...CURRENT_VERSION_EXPIRED_FLAGS];

/**
 * Warnings for CDK-style keys that look like a misspelt feature flag: keys in the flags'
 * namespaces (`@aws-cdk…`, `aws-cdk:`) that are no flag of the installed aws-cdk-lib but a near
 * miss of one (a few edits, or a different case), which CDK would silently ignore. A key far
 * from every flag is not judged: aws-cdk-lib has no list of its other settings
 * (`@aws-cdk/core:bootstrapQualifier`, `@aws-cdk/core:permissionsBoundary`, …), and none of
 * those is a near miss of a flag.
 */
export function cdkKeyWarnings(keys: readonly string[]): string[] {
  return keys.flatMap((key) => {
    if (!/^(@aws-cdk|aws-cdk:)/.test(key) || FEATURE_FLAGS.includes(key)) return [];
    const flag = closestKey(key, FEATURE_FLAGS);
    return flag === undefined
      ? []
      : [`${show(key)} is not a feature flag of aws-cdk-lib (which ignores keys it does not know): did you mean ${show(flag)}?`];
  });
}
