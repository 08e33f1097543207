import { spawn, StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** What one timed command cost. */
export interface Timed {
  readonly wallSeconds: number;
  /**
   * CPU seconds of the whole process tree the command started (user + system of every
   * descendant that was waited for: node and pg_dump, or pg_dump and aws). Read from this
   * process's cutime/cstime in /proc/self/stat; it excludes the PostgreSQL server.
   */
  readonly treeCpuSeconds: number;
  /** CPU seconds this (benchmark) process spent meanwhile: the in-process S3 server. */
  readonly benchCpuSeconds: number;
  readonly stdout: string;
}

const TICKS_PER_SECOND = 100;

/** CPU seconds of this process's waited-for descendants, from /proc/self/stat (cutime + cstime). */
function descendantsCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name, which may contain spaces: field 3 is at index 0.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[16 - 3]) + Number(fields[17 - 3])) / TICKS_PER_SECOND;
}

const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Runs a program to completion and measures it. stdout goes to /dev/null when
 * `discardStdout` is set (the pg_dump baseline), and is captured otherwise. Rejects with
 * the tail of stderr if the program fails.
 */
export function timeCommand(
  program: string,
  args: readonly string[],
  env: Record<string, string>,
  options: { discardStdout?: boolean } = {},
): Promise<Timed> {
  const devNull = options.discardStdout ? openSync('/dev/null', 'w') : undefined;
  const stdio: StdioOptions = ['ignore', devNull ?? 'pipe', 'pipe'];
  const cpu0 = descendantsCpuSeconds();
  const own0 = ownCpuSeconds();
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio });
    if (devNull !== undefined) closeSync(devNull);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) {
        reject(
          new Error(
            `${program} ${args.join(' ')} ${signal ? `was killed by ${signal}` : `exited with ${code}`}:\n${stderr.trim()}\n${stdout.trim().split('\n').slice(-5).join('\n')}`,
          ),
        );
        return;
      }
      resolve({ wallSeconds, treeCpuSeconds: descendantsCpuSeconds() - cpu0, benchCpuSeconds: ownCpuSeconds() - own0, stdout });
    });
  });
}

/** The JSON log line of `event` in the CLI's output. */
export function eventOf(stdout: string, event: string): Record<string, unknown> {
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (parsed.event === event) return parsed;
  }
  throw new Error(`The CLI did not log '${event}':\n${stdout.slice(-2000)}`);
}
