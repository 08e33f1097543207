import { backupConfig } from '../config/backup';
import { listConfig, restoreConfig, statusConfig, verifyConfig } from '../config/readers';
import { CommandName } from '../config/settings';
import { LogFormat, Logger } from '../log';
import { runBackup } from './backup';
import { runAllDatabases } from './backup-all';
import { runList } from './list';
import { runRestore } from './restore';
import { runStatus } from './status';
import { runVerify } from './verify';

/** One command: what help says of it, how it reads its configuration, and how it runs. */
export interface CommandSpec<C extends { readonly logFormat: LogFormat }> {
  /** One line for `--help`. */
  readonly summary: string;
  /** Reads and checks the configuration (throws a ConfigError listing every problem; connects to nothing). */
  readonly configure: (argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean) => C;
  /** Its result goes to stdout (list, status), so its log goes to stderr. */
  readonly printsResult: boolean;
  /** Runs it; a failure is a TaskError the command has already logged. */
  readonly run: (config: C, log: Logger, signal: AbortSignal, out: (text: string) => void) => Promise<unknown>;
}

/** A command whose configuration has been read: how it logs, and its run. */
export interface ConfiguredCommand {
  readonly logFormat: LogFormat;
  readonly printsResult: boolean;
  run(log: Logger, signal: AbortSignal, out: (text: string) => void): Promise<unknown>;
}

/** A command as the table holds it: its summary, and how to configure it. */
export interface Command {
  readonly summary: string;
  configure(argv: readonly string[], env: NodeJS.ProcessEnv, isTty: boolean): ConfiguredCommand;
}

function command<C extends { readonly logFormat: LogFormat }>(spec: CommandSpec<C>): Command {
  return {
    summary: spec.summary,
    configure(argv, env, isTty) {
      const config = spec.configure(argv, env, isTty);
      return {
        logFormat: config.logFormat,
        printsResult: spec.printsResult,
        run: (log, signal, out) => spec.run(config, log, signal, out),
      };
    },
  };
}

/** Every command of the CLI: dispatch (cli.ts) and `--help` (help.ts) both read this table. */
export const COMMANDS: { readonly [K in CommandName]: Command } = {
  backup: command({
    summary: 'Stream pg_dump -Fc of one database (or, with --all-databases, of each) into S3; a backup exists only if it is complete.',
    configure: backupConfig,
    printsResult: false,
    run: (config, log, signal) =>
      config.allDatabases ? runAllDatabases({ ...config, allDatabases: config.allDatabases }, log, signal) : runBackup(config, log, signal),
  }),
  list: command({
    summary: 'List the backups of a database, newest first.',
    configure: listConfig,
    printsResult: true,
    run: (config, log, _signal, out) => runList(config, log, out),
  }),
  status: command({
    summary: 'Show how old the newest complete backup of each database is; with --max-age-hours, fail when one is too old.',
    configure: statusConfig,
    printsResult: true,
    run: (config, log, _signal, out) => runStatus(config, log, out),
  }),
  verify: command({
    summary: 'Check a stored backup against its manifest and read the whole archive.',
    configure: verifyConfig,
    printsResult: false,
    run: (config, log, signal) => runVerify(config, log, signal),
  }),
  restore: command({
    summary: 'Restore a stored backup into a database.',
    configure: restoreConfig,
    printsResult: false,
    run: (config, log, signal) => runRestore(config, log, signal),
  }),
};
