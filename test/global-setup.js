// Builds task/dist/cli.js once before the suite: the integration tests drive the bundled
// CLI exactly as the container runs it. First, it fails the run (once, before any test) when a
// PostgreSQL toolchain of the matrix is missing, with the command that provides it.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');
const { howToGet, toolchains } = require('./support/toolchains');

module.exports = async () => {
  const all = toolchains();
  const missing = all.filter((t) => !t.ready);
  const ready = all.filter((t) => t.ready).map((t) => t.major);
  if (missing.length > 0)
    throw new Error(
      missing.map((t) => `PostgreSQL ${t.major} (server and client) is not in ${t.binDir}: ${howToGet(t.major)}.`).join('\n') +
        (ready.length > 0 ? `\nOr run without it, explicitly: TEST_PG_TOOLCHAINS=${ready.join(',')} npm test` : ''),
    );
  execFileSync(process.execPath, [join(__dirname, '..', 'task', 'build.mjs')], { stdio: 'inherit', cwd: join(__dirname, '..') });
};
