/**
 * Log events (the `event` field of each JSON line) that the stack's saved queries and
 * dashboard read. The task logs many more; these are the ones outside code depends on.
 */
export const EVENTS = {
  backupComplete: 'backup.complete',
  backupFailed: 'backup.failed',
  verifyOk: 'verify.ok',
  verifyFailed: 'verify.failed',
  restoreComplete: 'restore.complete',
  restoreFailed: 'restore.failed',
  configInvalid: 'config.invalid',
} as const;
