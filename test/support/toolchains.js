// The PostgreSQL toolchains (server and client programs of one major) that the integration
// suites run with, for jest.config.js (one project per toolchain) and test/global-setup.js
// (which builds a missing 18, and fails when another one is missing, saying how to get it).
//
// TEST_PG_TOOLCHAINS: comma-separated majors, default "15,18": Debian 12's PostgreSQL 15 and
// the 18 that the image ships, built from Debian's source package by task/dev/build-postgres.sh.
// Set TEST_PG_TOOLCHAINS=15 explicitly to run without 18 (its own suites then do not run);
// otherwise a missing 18 is built by `npm test` (test/global-setup.js), never a silent skip.
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const BUILD_SCRIPT = join(__dirname, '..', '..', 'task', 'dev', 'build-postgres.sh');
const PROGRAMS = ['initdb', 'pg_ctl', 'pg_dump', 'pg_restore', 'psql'];

/** Debian's own /usr/lib/postgresql/N/bin when installed, else the cache that build-postgres.sh fills (18 only). */
function binDirOf(major) {
  const system = `/usr/lib/postgresql/${major}/bin`;
  if (existsSync(join(system, 'initdb')) || major !== '18') return system;
  // The script owns the cache layout (XDG_CACHE_HOME, root's /var/cache): ask it rather than repeat it.
  return execFileSync(BUILD_SCRIPT, ['--print'], { encoding: 'utf8' }).trim();
}

/** Whether build-postgres.sh provides this toolchain (the 18 in its cache, not a system one). */
function buildable(t) {
  return t.major === '18' && t.binDir !== '/usr/lib/postgresql/18/bin';
}

/** PostgreSQL 18's clients built without zstd and lz4 (the 18-only compression suite): { binDir, ready }. */
function withoutCompression() {
  const binDir = execFileSync(BUILD_SCRIPT, ['--print', '--without-compression'], { encoding: 'utf8' }).trim();
  return { binDir, ready: ['pg_dump', 'pg_restore', 'psql'].every((p) => existsSync(join(binDir, p))) };
}

/** [{ major: '15', binDir, ready }] in the order of TEST_PG_TOOLCHAINS. */
function toolchains() {
  const majors = (process.env.TEST_PG_TOOLCHAINS || '15,18')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  for (const m of majors) if (!/^\d+$/.test(m)) throw new Error(`TEST_PG_TOOLCHAINS: '${m}' is not a PostgreSQL major (e.g. 15,18)`);
  return majors.map((major) => {
    const binDir = binDirOf(major);
    return { major, binDir, ready: PROGRAMS.every((p) => existsSync(join(binDir, p))) };
  });
}

/** What to run to get a missing toolchain. */
function howToGet(major) {
  return major === '18'
    ? `run task/dev/build-postgres.sh (builds PostgreSQL 18 from Debian's source package into a cache, about 3 minutes; npm test runs it when 18 is missing)`
    : `install it: apt-get install postgresql-${major} postgresql-client-${major}`;
}

module.exports = { BUILD_SCRIPT, buildable, howToGet, toolchains, withoutCompression };
