// Runs once before the suites. First, it makes sure every PostgreSQL toolchain of the run is
// there: the 18 that the image ships (and its build without zstd and lz4, which the 18-only
// compression suite runs) is built by task/dev/build-postgres.sh when missing, with its
// progress lines and the time it took, into the script's cache (later runs find it there). A
// missing toolchain that it cannot build (Debian's 15) fails the run at once, with the command
// that installs it: never a silent skip. Then it builds task/dist/cli.js: the integration tests
// drive the bundled CLI exactly as the container runs it.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');
const { BUILD_SCRIPT, buildable, howToGet, toolchains, withoutCompression } = require('./support/toolchains');

/** Runs build-postgres.sh with `args`: its progress lines (stderr) go to the terminal. */
function build(what, args) {
  const started = Date.now();
  console.error(
    `\n[global-setup] ${what} is missing: building it with ${['task/dev/build-postgres.sh', ...args].join(' ')} (once, then cached)`,
  );
  const bin = execFileSync('bash', [BUILD_SCRIPT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  console.error(`[global-setup] ${what}: built in ${Math.round((Date.now() - started) / 1000)} s, in ${bin}\n`);
}

module.exports = async () => {
  let all = toolchains();
  const built = all.filter((t) => !t.ready && buildable(t));
  for (const t of built) build(`PostgreSQL ${t.major} (server and client, in ${t.binDir})`, []);
  if (all.some((t) => t.major === '18') && !withoutCompression().ready)
    build(`PostgreSQL 18's clients without zstd and lz4 (in ${withoutCompression().binDir})`, ['--without-compression']);
  if (built.length > 0) all = toolchains();
  const missing = all.filter((t) => !t.ready);
  const ready = all.filter((t) => t.ready).map((t) => t.major);
  if (missing.length > 0)
    throw new Error(
      missing.map((t) => `PostgreSQL ${t.major} (server and client) is not in ${t.binDir}: ${howToGet(t.major)}.`).join('\n') +
        (ready.length > 0 ? `\nOr run without it, explicitly: TEST_PG_TOOLCHAINS=${ready.join(',')} npm test` : ''),
    );
  execFileSync(process.execPath, [join(__dirname, '..', 'task', 'build.mjs')], { stdio: 'inherit', cwd: join(__dirname, '..') });
};
