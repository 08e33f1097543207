import { spawn } from 'node:child_process';
import { accessSync, chmodSync, chownSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deniedWritesOutside, straceArgs } from './write-trace';
import { CliRun, jsonLines } from '../cli';

/** How to run one command the way the Fargate task runs the image's container. */
export interface SandboxOptions {
  /** Host path of the Node binary, mounted read-only as the image's /usr/local/bin/node. */
  readonly node: string;
  /** Host path of the script mounted read-only at /app/cli.js (the bundled CLI, or a probe). */
  readonly app: string;
  readonly args: readonly string[];
  /** The container's whole environment: nothing else reaches it. */
  readonly env: Readonly<Record<string, string>>;
  /** The writable mount points, by container path. `hostDir` replaces the fresh volume (e.g. to give a broken one). */
  readonly writable: ReadonlyArray<{ readonly path: string; readonly owner: 'image-user' | 'root'; readonly hostDir?: string }>;
  readonly uid: number;
  readonly gid: number;
  readonly workdir: string;
  /**
   * Host directories mounted read-only at their own paths: a PostgreSQL toolchain outside /usr
   * and /var (e.g. one built into $XDG_CACHE_HOME), which the image has under /usr.
   * @default - none
   */
  readonly readOnly?: readonly string[];
  /** Kill the sandbox after this long and fail. @default 90 s */
  readonly timeoutMs?: number;
  /** Called once the sandbox's init is known, with a handle to signal it. */
  readonly onStart?: (sandbox: RunningSandbox) => void;
}

/** A started sandbox. */
export interface RunningSandbox {
  /**
   * Sends `signal` to the container's init (tini, PID 1 inside), which forwards it to node:
   * what `docker stop`/ECS StopTask do. Not to bwrap itself: bubblewrap 0.8 forwards no
   * signals, and a bwrap that dies takes the sandbox down with SIGKILL (--die-with-parent).
   * As for any PID 1, a signal that arrives before tini has set up its handling is dropped.
   */
  kill(signal: NodeJS.Signals): void;
}

/** What `runCli` returns, and the writes the sandbox saw denied. */
export interface SandboxRun extends CliRun {
  /** Writes denied outside the writable mounts, by any process in the sandbox, as `<path> (<call>: <errno>)`. */
  readonly writesOutside: string[];
}

/** The image's accounts, so that getpwuid() answers as in the image (node, home /home/node) and not with the host's uid 1000. */
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/sh\n';
const GROUP = 'root:x:0:\nnode:x:1000:\n';

/**
 * The filesystem of the container: the host's system folders read-only in place of the
 * image's layers, /usr/local holding only the image's Node, the CLI at /app/cli.js, the
 * image's empty top-level folders, and as the only writable places the task's mount points.
 * The root is bwrap's tmpfs, remounted read-only last: ReadonlyRootFilesystem.
 */
function mounts(o: SandboxOptions, work: string, volumes: Array<{ path: string; hostDir: string }>): string[] {
  const args = ['--ro-bind', '/usr', '/usr', '--ro-bind', '/etc', '/etc', '--ro-bind', '/var', '/var', '--ro-bind', '/sys', '/sys'];
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) args.push('--symlink', `usr/${l}`, `/${l}`);
  writeFileSync(join(work, 'passwd'), PASSWD);
  writeFileSync(join(work, 'group'), GROUP);
  args.push('--ro-bind', join(work, 'passwd'), '/etc/passwd', '--ro-bind', join(work, 'group'), '/etc/group');
  args.push('--dev', '/dev', '--proc', '/proc', '--tmpfs', '/usr/local', '--perms', '0755', '--dir', '/usr/local/bin');
  args.push('--ro-bind', o.node, '/usr/local/bin/node', '--remount-ro', '/usr/local');
  args.push('--perms', '0755', '--dir', '/app', '--ro-bind', o.app, '/app/cli.js');
  for (const d of ['/home/node', '/opt', '/mnt', '/srv', '/run']) args.push('--perms', '0755', '--dir', d);
  args.push('--perms', '0700', '--dir', '/root', '--perms', '1777', '--dir', '/tmp');
  for (const d of o.readOnly ?? []) {
    // Its parents as plain 0755 directories: bwrap would create them 0700, closed to the task user.
    const parents = d
      .split('/')
      .slice(1, -1)
      .map((_, i, parts) => `/${parts.slice(0, i + 1).join('/')}`);
    for (const p of parents.filter((p) => p !== '/tmp')) args.push('--perms', '0755', '--dir', p);
    args.push('--ro-bind', d, d);
  }
  for (const v of volumes) args.push('--bind', v.hostDir, v.path);
  return [...args, '--remount-ro', '/', '--chdir', o.workdir];
}

/** A fresh task volume: image-user 0700 where the image declares a VOLUME, else root 0755 (Fargate's default). */
function volume(work: string, i: number, owner: 'image-user' | 'root', o: SandboxOptions): string {
  const dir = join(work, `volume-${i}`);
  mkdirSync(dir);
  if (owner === 'image-user') {
    chownSync(dir, o.uid, o.gid);
    chmodSync(dir, 0o700);
  } else chmodSync(dir, 0o755);
  return dir;
}

/**
 * Runs `node /app/cli.js <args>` as the ECS task would: bubblewrap (as root) builds the
 * container's filesystem and PID namespace, tini is PID 1 (initProcessEnabled), setpriv
 * drops to the image user with no capabilities, and strace, outside the sandbox, records
 * every write that was refused outside the writable mounts. The host network stays: the
 * CLI reaches the local PostgreSQL and s3rver on 127.0.0.1.
 */
export function runInSandbox(o: SandboxOptions): Promise<SandboxRun> {
  const work = mkdtempSync(join(tmpdir(), 'pg-s3-backup-sandbox-'));
  const volumes = o.writable.map((w, i) => ({ path: w.path, hostDir: w.hostDir ?? volume(work, i, w.owner, o) }));
  const env = Object.entries(o.env).flatMap(([k, v]) => ['--setenv', k, v]);
  const options = [
    ...mounts(o, work, volumes),
    ...['--unshare-pid', '--as-pid-1', '--new-session', '--die-with-parent', '--clearenv', ...env, '--info-fd', '3'],
  ];
  const command = [
    ...['/usr/bin/tini', '-s', '--', '/usr/bin/setpriv', `--reuid=${o.uid}`, `--regid=${o.gid}`, '--clear-groups', '--bounding-set=-all'],
    ...['--', '/usr/local/bin/node', '/app/cli.js', ...o.args],
  ];
  // bwrap reads its options from fd 4 (NUL-separated; the command must stay in argv): the
  // environment, passwords included, stays out of every command line on the host.
  writeFileSync(join(work, 'bwrap.args'), options.map((a) => a + '\0').join(''), { mode: 0o600 });
  const argsFd = openSync(join(work, 'bwrap.args'), 'r');
  const trace = join(work, 'trace');
  const started = Date.now();
  const child = spawn('/usr/bin/strace', [...straceArgs(trace), '--', '/usr/bin/bwrap', '--args', '4', '--', ...command], {
    env: {},
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', argsFd],
  });
  closeSync(argsFd);
  let initPid: number | undefined;
  const kill = (signal: NodeJS.Signals) => {
    if (initPid === undefined) throw new Error('the sandbox has not started yet');
    process.kill(initPid, signal);
  };
  let stdout = '';
  let stderr = '';
  let info = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => {
    info += c.toString('utf8');
    const m = /"child-pid":\s*(\d+)/.exec(info);
    if (m && initPid === undefined) {
      initPid = Number(m[1]);
      o.onStart?.({ kill });
    }
  });
  return new Promise((resolve, reject) => {
    const timeoutMs = o.timeoutMs ?? 90_000;
    const timer = setTimeout(() => {
      // The whole PID namespace dies with its init; bwrap and strace then exit.
      if (initPid !== undefined) process.kill(initPid, 'SIGKILL');
      child.kill('SIGKILL');
      reject(new Error(`sandboxed ${o.args.join(' ')} did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      try {
        const writesOutside = deniedWritesOutside(
          trace,
          volumes.map((v) => v.path),
        );
        resolve({ code, signal, stdout, stderr, ms: Date.now() - started, events: jsonLines(stdout), writesOutside });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  });
}

/** The sandbox needs these host programs (Debian: bubblewrap, tini, strace, util-linux). */
export function missingSandboxTools(): string[] {
  return ['/usr/bin/bwrap', '/usr/bin/tini', '/usr/bin/setpriv', '/usr/bin/strace'].filter((p) => {
    try {
      accessSync(p, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}
