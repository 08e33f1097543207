import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * Detection of writes a program attempted outside its writable mounts. The read-only root
 * makes each such write fail (EROFS, or EACCES/EPERM where permissions stop it first), but
 * a program may swallow the error, so the failures are read from strace rather than from
 * the program's output. strace only stops the tracee on the listed calls (seccomp-bpf), so
 * reads and writes on open files cost nothing.
 */

/** Calls that create, change or remove a path. `?` marks those an architecture may lack (arm64 has no `open`). */
const WRITE_CALLS = [
  'openat',
  '?openat2',
  '?open',
  '?creat',
  'mkdirat',
  '?mkdir',
  'unlinkat',
  '?unlink',
  '?rmdir',
  'renameat2',
  '?renameat',
  '?rename',
  'symlinkat',
  '?symlink',
  'linkat',
  '?link',
  '?truncate',
  'mknodat',
  '?mknod',
  'fchmodat',
  '?fchmodat2',
  '?chmod',
  'fchownat',
  '?chown',
  '?lchown',
  'utimensat',
];

/** Errors that mean "you may not write here". */
const DENIED = new Set(['EROFS', 'EACCES', 'EPERM']);

/** strace's arguments (before the command) to record failed write calls of every process into `<prefix>.<pid>`. */
export function straceArgs(prefix: string): string[] {
  return [
    '-ff', // one file per process: no interleaved or "resumed" lines
    '-qq',
    '--seccomp-bpf',
    '-y', // prints the directory of a dirfd (AT_FDCWD</app>), so relative paths resolve
    '-e',
    'signal=none',
    '-e',
    'status=failed',
    '-e',
    `trace=${WRITE_CALLS.join(',')}`,
    '-o',
    prefix,
  ];
}

/** One C string argument as strace prints it (`"a\"b"`), decoded. */
function unquote(s: string): string {
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' }[e] ?? e;
  });
}

const STRING = /"(?:[^"\\]|\\.)*"/g;

/** The paths a failed call named, absolute where strace gave the directory of the dirfd. */
function pathsOf(call: string, args: string): string[] {
  const out: string[] = [];
  // A dirfd (or AT_FDCWD) printed with -y as `3</dir>` or `AT_FDCWD</dir>` precedes its path.
  const re = new RegExp(`(?:(?:AT_FDCWD|\\d+)<((?:[^>\\\\]|\\\\.)*)>,\\s*)?(${STRING.source})`, 'g');
  for (const m of args.matchAll(re)) {
    const path = unquote(m[2]);
    out.push(m[1] !== undefined && !path.startsWith('/') ? posix.join(m[1], path) : path);
  }
  // symlink(target, linkpath): only the link is written; the target is just text.
  return call.startsWith('symlink') ? out.slice(1) : out;
}

/** Whether a failed open-family call asked for write access (a read that fails is no write). */
function opensForWriting(call: string, args: string): boolean {
  if (call === 'creat') return true;
  if (!call.startsWith('open')) return true;
  return /\bO_(?:WRONLY|RDWR|CREAT|TRUNC|APPEND|TMPFILE)\b/.test(args);
}

/**
 * Every denied write in the trace files `<prefix>.<pid>` on a path outside `writable`
 * (container paths), as `<path> (<call>: <errno>)`, once each.
 */
export function deniedWritesOutside(prefix: string, writable: readonly string[]): string[] {
  const dir = posix.dirname(prefix);
  const base = posix.basename(prefix) + '.';
  const inside = (p: string) => writable.some((w) => p === w || p.startsWith(w.replace(/\/$/, '') + '/'));
  const found = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.startsWith(base))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const m = /^(\w+)\((.*)\)\s+=\s+-1\s+(E[A-Z0-9]+)\b/.exec(line);
      if (!m || !DENIED.has(m[3]) || !opensForWriting(m[1], m[2])) continue;
      for (const path of pathsOf(m[1], m[2])) {
        const absolute = posix.normalize(path);
        if (!inside(absolute)) found.add(`${absolute} (${m[1]}: ${m[3]})`);
      }
    }
  }
  return [...found].sort();
}
