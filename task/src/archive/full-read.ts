import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { describeExit, isFailedExit, OutputTail, spawnErrorMessage } from '../child';
import { InterruptedError } from '../errors';
import { PgTools } from '../postgres/tools';

/**
 * Starts `pg_restore -f /dev/null` reading an archive from `input` (a file path) or stdin:
 * a full read of every data block. (`pg_restore --list` would pass a truncated archive.)
 * `signal` stops it (SIGTERM); `done` then rejects with an {@link InterruptedError}.
 */
export function startFullRead(
  tools: PgTools,
  env: Readonly<Record<string, string>>,
  input?: string,
  signal?: AbortSignal,
): { stdin: Writable; done: Promise<string | undefined> } {
  const child = spawn(tools.pgRestore, ['-f', '/dev/null', ...(input ? [input] : [])], {
    env,
    stdio: ['pipe', 'ignore', 'pipe'],
    signal,
  });
  const tail = new OutputTail(4096);
  child.stderr.on('data', (c: Buffer) => tail.push(c));
  if (input) child.stdin.end();
  const done = new Promise<string | undefined>((resolve, reject) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => (spawnError = err));
    child.on('close', (code, signalName) => {
      if (signal?.aborted) reject(new InterruptedError(String(signal.reason), 'verify'));
      else if (spawnError) resolve(spawnErrorMessage('pg_restore', spawnError));
      else if (isFailedExit({ code, signal: signalName }))
        resolve(`pg_restore could not read the whole archive (it ${describeExit({ code, signal: signalName })}): ${tail.text(5)}`);
      else resolve(undefined);
    });
  });
  // Callers await it after the transfer; if the transfer fails first, an unobserved rejection must not crash the process.
  done.catch(() => undefined);
  return { stdin: child.stdin, done };
}
