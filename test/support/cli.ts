import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The bundle under test; TEST_CLI runs the suites against another build (e.g. an older commit's, to see a test fail). */
export const CLI = process.env.TEST_CLI ?? join(__dirname, '..', '..', 'task', 'dist', 'cli.js');

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** stdout parsed as JSON lines (non-JSON lines are skipped). */
  readonly events: Record<string, unknown>[];
}

export interface CliOptions {
  /** Called once the process has started (to send signals, inspect /proc…). */
  readonly onStart?: (pid: number) => void;
  /** Kill the CLI after this long and fail the test. @default 90 s */
  readonly timeoutMs?: number;
  /** A command that runs the CLI (its program and arguments come after these), e.g. a namespace wrapper. @default none */
  readonly wrapper?: readonly string[];
}

/**
 * Runs the bundled CLI (task/dist/cli.js, what the container runs) with exactly `env` plus
 * PATH/HOME: nothing leaks in from the developer's shell (no AWS_PROFILE, no PG* variables).
 * The toolchain of the test project (TEST_PG_BIN_DIR, see jest.config.js) comes first on PATH,
 * so the CLI runs that major's pg_dump, pg_restore and psql; `env.PG_BIN_DIR`, `--pg-bin-dir`
 * or `env.PATH` still choose another.
 */
export function runCli(args: readonly string[], env: Record<string, string | undefined>, options: CliOptions = {}): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' (npm test does it first).`);
  const started = Date.now();
  const path = process.env.PATH ?? '/usr/bin:/bin';
  const childEnv: Record<string, string> = {
    PATH: process.env.TEST_PG_BIN_DIR ? `${process.env.TEST_PG_BIN_DIR}:${path}` : path,
    HOME: process.env.HOME ?? '/tmp',
    LOG_FORMAT: 'json',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve, reject) => {
    const [program, ...rest] = [...(options.wrapper ?? []), process.execPath, CLI, ...args];
    const child = spawn(program, rest, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI ${args.join(' ')} did not finish within ${options.timeoutMs ?? 90000} ms:\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 90000);
    child.on('error', reject);
    child.on('spawn', () => options.onStart?.(child.pid!));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, events: jsonLines(stdout) });
    });
  });
}

/** The JSON lines of a CLI's output, parsed (other lines skipped). */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** The first event with this name, or a test failure that shows what was logged. */
export function eventOf(run: CliRun, name: string): Record<string, unknown> {
  const e = run.events.find((x) => x.event === name);
  if (!e) throw new Error(`No '${name}' event. stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return e;
}

/** PIDs of the direct children of `pid` whose command name is `name` (Linux /proc); `live`: not those that have exited and wait to be reaped. */
export function childPids(pid: number, name: string, options: { readonly live?: boolean } = {}): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) (\S+) (\d+)/.exec(stat);
      if (m && Number(m[3]) === pid && m[1] === name && !(options.live && m[2] === 'Z')) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/**
 * The bin directory of PostgreSQL `major` in this run (TEST_PG_BIN_DIR_<major>, set by
 * test/support/toolchain-setup.js for every toolchain of TEST_PG_TOOLCHAINS), for suites that pair majors.
 */
export function toolchainBinDir(major: number): string {
  const dir = process.env[`TEST_PG_BIN_DIR_${major}`];
  if (!dir)
    throw new Error(`No PostgreSQL ${major} toolchain in this run: add ${major} to TEST_PG_TOOLCHAINS (see test/support/toolchains.js).`);
  return dir;
}
