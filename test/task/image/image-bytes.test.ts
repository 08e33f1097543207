/**
 * The image runs the bytes that the tests ran. `cdk deploy` builds task/Dockerfile from the
 * build context that synth stages (the repository filtered by /.dockerignore); its build
 * stage copies part of that context and runs the bundler. This test stages the context the
 * same way, replays the build stage's COPY and bundling steps from the Dockerfile itself, and
 * requires the result to be byte-identical to the task/dist/cli.js every other test runs.
 *
 * The one step not replayed is `npm ci --ignore-scripts`: the repository's node_modules,
 * installed by `npm ci` from the same package-lock.json, stands in for it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../../../bin/app';
import { exampleContext } from '../../support/cdk';
import { readBuildStage } from '../../support/image/dockerfile';

const REPO = join(__dirname, '..', '..', '..');

test('the bundle built from the staged Docker context is byte-identical to task/dist/cli.js', () => {
  // GIVEN the build context exactly as synth stages it
  const outdir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-asm-'));
  const build = mkdtempSync(join(tmpdir(), 'pg-s3-backup-imagebuild-'));
  try {
    const app = new App({ context: exampleContext(), outdir });
    const { stack } = buildApp(app);
    const assembly = app.synth();
    const manifest = JSON.parse(readFileSync(join(assembly.directory, `${stack.artifactId}.assets.json`), 'utf8'));
    const image = Object.values<{ source: { directory: string; dockerFile?: string } }>(manifest.dockerImages).find(
      (i) => i.source.dockerFile === 'task/Dockerfile',
    )!;
    const context = join(assembly.directory, image.source.directory);

    // WHEN the build stage's COPY steps and commands run on it
    const stage = readBuildStage(readFileSync(join(context, 'task', 'Dockerfile'), 'utf8'));
    const workdir = join(build, stage.workdir);
    for (const copy of stage.copies)
      for (const source of copy.sources) {
        const into =
          copy.destination.endsWith('/') || copy.sources.length > 1
            ? posix.join(copy.destination, posix.basename(source))
            : copy.destination;
        cpSync(join(context, source), join(workdir, into), { recursive: true });
      }
    symlinkSync(join(REPO, 'node_modules'), join(workdir, 'node_modules'));
    const bundling = stage.runs.filter((r) => !/^npm ci\b/.test(r));
    expect(bundling.join(' ; ')).toMatch(/node task\/build\.mjs/);
    for (const command of bundling) execFileSync('sh', ['-c', command], { cwd: workdir, stdio: 'pipe' });

    // THEN the image's cli.js is the tested one, to the byte
    const built = readFileSync(join(workdir, 'task', 'dist', 'cli.js'));
    const tested = readFileSync(join(REPO, 'task', 'dist', 'cli.js'));
    expect({ bytes: built.length, same: built.equals(tested) }).toEqual({ bytes: tested.length, same: true });
  } finally {
    rmSync(outdir, { recursive: true, force: true });
    rmSync(build, { recursive: true, force: true });
  }
});
