// The public API: the constructs, their props and the project configuration. Helpers they
// share (policies, container wiring, alarms, cdk-nag acknowledgements) are in lib/private.
export * from './alarm-topic';
export * from './backup-source';
export * from './backup-stack';
export * from './bucket-defaults';
export * from './config';
export * from './dashboard';
export * from './database-connection';
export * from './postgres-backup';
export * from './restore-drill';
export * from './restore-task';
export * from './task-image';
