// Bundles the task CLI into one file that runs with plain `node` and no node_modules
// (that file is what the container image runs), plus the local dev tools (demo, bench),
// which keep their dependencies external because they run from a checkout.
//
//   node task/build.mjs             task/dist/cli.js, demo.js and bench.js
//   node task/build.mjs --cli-only  task/dist/cli.js alone: the image's build stage, whose
//                                   context holds neither task/dev nor the test harness
//                                   (test/support) that the demo and the bench import
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: false,
  logLevel: 'warning',
  legalComments: 'none',
  minify: true,
  keepNames: true,
};

await build({
  ...common,
  entryPoints: ['task/src/cli.ts'],
  outfile: 'task/dist/cli.js',
  banner: { js: '#!/usr/bin/env node' },
  define: { PG_S3_BACKUP_VERSION: JSON.stringify(version) },
});

// Local tools run from a checkout: their dependencies (s3rver, the SDK) stay in node_modules.
if (!process.argv.includes('--cli-only'))
  await build({
    ...common,
    entryPoints: ['task/dev/demo.ts', 'task/dev/bench.ts'],
    outdir: 'task/dist',
    packages: 'external',
  });
