// The SDK warns on Node < 22 (its releases after January 2027 need 22; the container runs 24).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { toolchains } = require('./test/support/toolchains');

// Suites are sorted by their name, not by a list:
// - *.integ.test.ts start PostgreSQL clusters and run the CLI's pg_dump/pg_restore/psql: they run
//   once per toolchain (TEST_PG_TOOLCHAINS, see test/support/toolchains.js), server and client of
//   the same major;
// - *.pg18.integ.test.ts are about PostgreSQL 18 itself (its compression methods, cross-version
//   pairs with 15): in the 18 project only;
// - every other *.test.ts is a unit, CDK template or IAM evaluation test: once, no PostgreSQL.
const INTEG = '\\.integ\\.test\\.ts$';
const ONLY_18 = '\\.pg18\\.integ\\.test\\.ts$';

const base = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: {
    // Type checking is done once by `npm run typecheck`; tests only transpile.
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
  },
  // Integration tests start PostgreSQL clusters and S3 servers: give them time.
  testTimeout: 120000,
};
const all = toolchains();

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: base.testTimeout,
  // Run at most two files at once on a 2-core machine (shared by all projects).
  maxWorkers: 2,
  // Builds the CLI, and fails the run when a toolchain is missing (before any test starts).
  globalSetup: '<rootDir>/test/global-setup.js',
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    // Unit, CDK template and IAM evaluation tests: once, no PostgreSQL.
    { ...base, displayName: 'unit', testMatch: ['**/*.test.ts'], testPathIgnorePatterns: [INTEG] },
    ...all.map((t) => ({
      ...base,
      displayName: `pg${t.major}`,
      testMatch: ['**/*.integ.test.ts'],
      testPathIgnorePatterns: t.major === '18' ? [] : [ONLY_18],
      setupFiles: ['<rootDir>/test/support/toolchain-setup.js'],
      globals: { TEST_PG_TOOLCHAIN: { major: t.major, binDir: t.binDir, all: all.map(({ major, binDir }) => ({ major, binDir })) } },
    })),
  ],
};
