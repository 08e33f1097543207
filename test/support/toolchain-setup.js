// Runs before each test file of a toolchain project (jest.config.js): points the throwaway
// clusters (findServerBinDir reads TEST_PG_BIN_DIR) and the CLI under test (runCli puts this
// directory first on its PATH) at the project's PostgreSQL toolchain. Jest gives each test file
// its own copy of process.env, so the projects cannot see each other's values.
const { binDir, major, all } = globalThis.TEST_PG_TOOLCHAIN;
process.env.TEST_PG_BIN_DIR = binDir;
process.env.TEST_PG_MAJOR = major;
// Every toolchain of the run, for the cross-version suites: TEST_PG_BIN_DIR_15, TEST_PG_BIN_DIR_18.
for (const t of all) process.env[`TEST_PG_BIN_DIR_${t.major}`] = t.binDir;
