import { accessSync, constants, mkdtempSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, ExitCode, Stage, TaskError } from '../errors';
import { formatBytes } from '../log';

/**
 * Checks of the directory a command downloads into (restore, and the drill's `verify
 * --restore-into`), made before any work: in the container it is the task's scratch volume,
 * whose ownership on Fargate has never been seen, and a failure there must read as what it
 * is (exit 2, the path, its owner and mode, the fix), not as a bug.
 */

/** How to choose restore's download directory, for messages. */
export const RESTORE_DIR_SETTING = '--temp-dir / RESTORE_TEMP_DIR (default: TMPDIR)';

const uid = () => (typeof process.getuid === 'function' ? process.getuid() : -1);
const mode = (m: number) => `0${(m & 0o777).toString(8)}`;

function refuse(message: string): TaskError {
  return new TaskError(message, { exitCode: ExitCode.CONFIG, stage: 'config' });
}

/** Throws unless `dir` is an existing directory this process may create files in. `setting` names how to change it. */
export function checkScratchWritable(dir: string, setting: string): void {
  const fix = `Mount a volume writable by uid ${uid()} at ${dir} (in ECS: the task's scratch volume, which the image creates owned by uid 1000), or point ${setting} at a writable directory.`;
  let stat;
  try {
    stat = statSync(dir);
  } catch {
    throw refuse(`The download directory ${dir} does not exist. ${fix}`);
  }
  if (!stat.isDirectory()) throw refuse(`The download directory ${dir} is not a directory. ${fix}`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw refuse(
      `The download directory ${dir} is not writable by this process (uid ${uid()}): it is owned by uid ${stat.uid}, gid ${stat.gid}, mode ${mode(stat.mode)}. ${fix}`,
    );
  }
}

/** Throws unless `dir` has room for `bytes` (plus 5 %). */
export function checkScratchSpace(dir: string, bytes: number, setting: string): void {
  const free = statfsSync(dir);
  const available = free.bavail * free.bsize;
  if (available < bytes * 1.05) {
    throw refuse(
      `${dir} has ${formatBytes(available)} free but the archive is ${formatBytes(bytes)}. Point ${setting} at a larger disk (in ECS: raise ephemeralStorageGiB).`,
    );
  }
}

/** Codes of a file-system call that failed on the local disk (not on a socket). */
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EIO', 'EACCES', 'EPERM', 'ENOENT']);
const DISK_CALLS = new Set(['open', 'write', 'mkdir', 'mkdtemp', 'close', 'fsync', 'rename', 'unlink']);

/**
 * The error for a local disk that failed while a command ran (the temp directory filled up,
 * went read-only, or vanished), when `err` is one: exit 7, `what` and the fix. Undefined for
 * any other error (a transfer that broke is the store's).
 */
export function localDiskFailure(err: unknown, what: string, setting: string, stage: Stage): TaskError | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e || typeof e.code !== 'string' || !DISK_CODES.has(e.code) || !DISK_CALLS.has(e.syscall ?? '')) return undefined;
  const why = e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'EFBIG' ? 'is full' : 'could not be written';
  return new TaskError(
    `${what} failed: ${describeError(err)}. The local disk ${why}: free space there, or point ${setting} at a larger, writable directory.`,
    {
      exitCode: ExitCode.LOCAL_DISK,
      stage,
      cause: err,
    },
  );
}

/** Creates a work directory in `dir` (a local-disk failure says so, exit 7). */
export function makeWorkDir(dir: string, setting: string): string {
  try {
    return mkdtempSync(join(dir, 'pg-s3-backup-restore-'));
  } catch (err) {
    throw localDiskFailure(err, `Creating a work directory in ${dir}`, setting, 'restore') ?? err;
  }
}
