// Builds task/dist/cli.js once before the suite: the integration tests drive the bundled
// CLI exactly as the container runs it.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

module.exports = async () => {
  execFileSync(process.execPath, [join(__dirname, '..', 'task', 'build.mjs')], { stdio: 'inherit', cwd: join(__dirname, '..') });
};
