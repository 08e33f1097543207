import { spawnSync } from 'node:child_process';

/**
 * Checks `text` with Prometheus's own `promtool check metrics` (Debian package `prometheus`):
 * the text exposition format's parser, then its lint (HELP on every family, names and units).
 * Returns its exit code and what it printed; a missing promtool fails the test, saying how to install it.
 */
export function promtoolCheck(text: string): { code: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is needed to check the metrics file (apt-get install prometheus): ${r.error.message}`);
  return { code: r.status, output: (r.stdout + r.stderr).trim() };
}
