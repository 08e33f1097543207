import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The Node release the contract runs the CLI on: the one task/Dockerfile pins in
 * `NODE_IMAGE` (checked by {@link imageNodeVersion}): bump both together.
 */
export const IMAGE_NODE_VERSION = '24.21.0';

const DOCKERFILE = join(__dirname, '..', '..', '..', 'task', 'Dockerfile');

/** The Node version of the image: `ARG NODE_IMAGE=…/node:<major>[.<minor>.<patch>]-…` in task/Dockerfile. */
export function imageNodeVersion(dockerfile = readFileSync(DOCKERFILE, 'utf8')): string {
  const m = /^ARG NODE_IMAGE=\S*\/node:(\d+(?:\.\d+\.\d+)?)[^\s]*$/m.exec(dockerfile);
  if (!m) throw new Error(`task/Dockerfile has no 'ARG NODE_IMAGE=…/node:<version>…' line: cannot tell which Node the image runs.`);
  return m[1];
}

/**
 * The path of a Node binary of the image's major, downloaded once into the user's cache.
 * It comes from the npm registry's `node-linux-<arch>` package (the official build, bin/node
 * and no install script); `npm pack` only downloads it. Deliberately not a devDependency:
 * the `node` package would put this Node first on the PATH of every npm script.
 */
export async function imageNode(): Promise<string> {
  const image = imageNodeVersion();
  const matches = image.includes('.') ? image === IMAGE_NODE_VERSION : IMAGE_NODE_VERSION.split('.')[0] === image;
  if (!matches)
    throw new Error(
      `task/Dockerfile runs Node ${image} but test/support/image/image-node.ts pins ${IMAGE_NODE_VERSION}: pin the same release (IMAGE_NODE_VERSION).`,
    );
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch as string];
  if (!arch) throw new Error(`No node-linux build for ${process.arch}: the contract test needs x64 or arm64.`);
  const cacheRoot = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pg-s3-backup');
  const home = join(cacheRoot, `node-v${IMAGE_NODE_VERSION}-linux-${arch}`);
  const node = join(home, 'bin', 'node');
  if (!existsSync(node)) await download(`node-linux-${arch}@${IMAGE_NODE_VERSION}`, cacheRoot, home);
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  if (version !== `v${IMAGE_NODE_VERSION}`) throw new Error(`${node} says ${version}, expected v${IMAGE_NODE_VERSION}: delete ${home}.`);
  return node;
}

async function download(spec: string, cacheRoot: string, home: string): Promise<void> {
  mkdirSync(cacheRoot, { recursive: true });
  // Unpacked beside its final place so that the rename is atomic (same filesystem): a
  // concurrent or interrupted run never sees half a Node.
  const work = mkdtempSync(join(cacheRoot, '.download-'));
  try {
    const run = promisify(execFile);
    const { stdout } = await run('npm', ['pack', spec, '--pack-destination', work, '--json', '--silent'], { cwd: work });
    const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>;
    await run('tar', ['-xzf', join(work, filename), '-C', work, 'package/bin/node', 'package/LICENSE']);
    try {
      renameSync(join(work, 'package'), home);
    } catch (err) {
      // Another run got there first: its copy is as good as ours.
      if (!existsSync(join(home, 'bin', 'node'))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
