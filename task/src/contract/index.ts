// The contract between the stack (lib/) and the task (task/src/): both import it from here.
export * from './environment';
export * from './events';
export * from './exit-codes';
export * from './key';
export * from './memory';
export * from './metrics';
export * from './patterns';
export * from './selection';
