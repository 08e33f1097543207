// The SDK warns on Node < 22 (its releases after January 2027 need 22; the container runs 24).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { toolchains } = require('./test/support/toolchains');

// Suites that start PostgreSQL clusters and run the CLI's pg_dump/pg_restore/psql: they run
// once per toolchain (TEST_PG_TOOLCHAINS, see test/support/toolchains.js), server and client
// of the same major. A new suite that starts a cluster belongs here.
const MATRIX = [
  'task/backup',
  'task/restore',
  'task/restore-trust',
  'task/signals',
  'task/fidelity',
  'task/tls',
  'task/sslmode',
  'task/selection',
  'task/status',
  'task/catalog-trust',
  'task/install',
  'task/child-env',
  'task/concurrent-backups',
  'task/strict-s3',
  'task/parallel',
  'evaluate/cli-requests',
  'contract/runtime-contract',
  'dev/harness',
];
// Suites about PostgreSQL 18 itself (its compression methods, cross-version pairs with 15): in the 18 project only.
const ONLY_18 = ['task/compression', 'task/versions'];
const path = (f) => `<rootDir>/test/${f}.test.ts`;
const pattern = (f) => `/test/${f}\\.test\\.ts$`;

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
    { ...base, displayName: 'unit', testMatch: ['**/*.test.ts'], testPathIgnorePatterns: [...MATRIX, ...ONLY_18].map(pattern) },
    ...all.map((t) => ({
      ...base,
      displayName: `pg${t.major}`,
      testMatch: [...MATRIX, ...(t.major === '18' ? ONLY_18 : [])].map(path),
      setupFiles: ['<rootDir>/test/support/toolchain-setup.js'],
      globals: { TEST_PG_TOOLCHAIN: { major: t.major, binDir: t.binDir, all: all.map(({ major, binDir }) => ({ major, binDir })) } },
    })),
  ],
};
