// Prints one plain closing line, "jest: N passed, N failed, N skipped", after the run, so a
// CI log states at a glance what ran. A test file that fails before any test runs (an import
// that throws, e.g. a missing toolchain) counts no failed test: the line then says so too.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const broken = results.numRuntimeErrorTestSuites
      ? `, ${results.numRuntimeErrorTestSuites} test file${results.numRuntimeErrorTestSuites === 1 ? '' : 's'} failed to run`
      : '';
    process.stdout.write(`\njest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped${broken}\n`);
  }
}
module.exports = SummaryReporter;
