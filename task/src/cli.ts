import { EVENTS } from './contract';
import { resolveLogFormat } from './config/shared';
import { ConfigError, describeError, ExitCode, TaskError } from './errors';
import { COMMANDS } from './commands';
import { commandHelp, mainHelp } from './commands/help';
import { Logger } from './log';
import { CommandName, COMMAND_NAMES } from './config/settings';
import { TOOL_VERSION } from './version';
import { tuneHeapGrowth } from './heap';
import { isPieceThread, runPieceThread } from './backup/thread-entry';

/**
 * Entry point: dispatches to a command and turns its outcome into an exit code. SIGTERM and
 * SIGINT abort the running command (which cleans up and exits 130); a second signal exits
 * at once.
 */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return command ? ExitCode.OK : ExitCode.CONFIG;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${TOOL_VERSION}\n`);
    return ExitCode.OK;
  }
  if (!(COMMAND_NAMES as readonly string[]).includes(command)) {
    process.stderr.write(`Unknown command '${command}'. Commands: ${COMMAND_NAMES.join(', ')}. Run 'pg-s3-backup --help'.\n`);
    return ExitCode.CONFIG;
  }
  const name = command as CommandName;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(name) + '\n');
    return ExitCode.OK;
  }

  const isTty = Boolean(process.stdout.isTTY);
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(ExitCode.INTERRUPTED);
    controller.abort(sig);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  // Until the configuration is known, log in the format the environment asks for (a
  // configuration error carries the format the command line asks for).
  let log = new Logger({ format: resolveLogFormat(process.env.LOG_FORMAT, isTty), base: { command: name } });
  try {
    const configured = COMMANDS[name].configure(rest, process.env, isTty);
    // A command whose result is its output (list, status) logs to stderr.
    const write = configured.printsResult ? (l: string) => process.stderr.write(l + '\n') : undefined;
    log = new Logger({ format: configured.logFormat, base: { command: name }, write });
    await configured.run(log, controller.signal, (text) => process.stdout.write(text + '\n'));
    return ExitCode.OK;
  } catch (err) {
    if (err instanceof ConfigError) {
      // In the format the configuration asks for: --log-format on the command line holds here too.
      if (err.logFormat) log = new Logger({ format: err.logFormat, base: { command: name } });
      log.error(EVENTS.configInvalid, err.message, { problems: err.problems });
      return err.exitCode;
    }
    if (err instanceof TaskError) return err.exitCode; // already logged by the command
    log.error('internal', `Unexpected error: ${describeError(err)}`, { stack: err instanceof Error ? err.stack : undefined });
    return ExitCode.INTERNAL;
  }
}

if (isPieceThread()) runPieceThread();
else runCli();

function runCli(): void {
  tuneHeapGrowth();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Do not wait for idle keep-alive sockets or stray timers: the work is done.
      setImmediate(() => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`pg-s3-backup: ${describeError(err)}\n`);
      process.exit(ExitCode.INTERNAL);
    },
  );
}
