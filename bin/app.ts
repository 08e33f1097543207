#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BackupStack, ProjectConfigError, loadProjectConfig } from '../lib';

/**
 * The app: one `PgS3Backup-<project>` stack from the configuration in cdk.json "context"
 * (override any setting with `-c key=value`; objects and numbers as JSON), validated at
 * synth, with the cdk-nag AwsSolutions checks. Exported for the tests.
 */
export function buildApp(app: App = new App()): { app: App; stack: BackupStack } {
  const config = loadProjectConfig(app.node.getAllContext() as Record<string, unknown>);
  const stack = new BackupStack(app, `PgS3Backup-${config.project}`, {
    config,
    description: `pg-s3-backup: scheduled, verified PostgreSQL backups of project ${config.project}`,
    env: config.account || config.region ? { account: config.account, region: config.region } : undefined,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (require.main === module) {
  try {
    buildApp();
  } catch (err) {
    // A configuration problem is the user's to fix: print the list, not a stack trace.
    if (!(err instanceof ProjectConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
