import { rmSync } from 'node:fs';
import { throwIfInterrupted } from '../errors';
import { Logger } from '../log';
import { applyRestore } from './apply';
import { applyParallel } from './pieces';
import { fetchArchive } from './fetch';
import { readWhatToApply } from './plan';
import { preflight } from './preflight';
import { makeWorkDir } from './scratch';
import { summarize } from './summary';
import { ResolvedBackup, RestoreInput, RestoreSummary } from './types';
import { Done, undoRestore } from './undo';

export type { ResolvedBackup, RestoreInput, RestoreSummary } from './types';

/**
 * Restores a backup so that a bad archive is never committed to the target, in five phases:
 * 1. preflight: everything that can refuse, before anything is downloaded or changed;
 * 2. fetch: with --jobs, download and check the archive (one job streams it later);
 * 3. plan: read the table of contents, the database's own entries and the globals, every
 *    statement checked;
 * 4. apply: globals, the target database, the content (one gated pass: pg_restore cannot commit
 *    until every byte matched the manifest; or pg_restore -j into a new database), properties;
 * 5. summary.
 * A failure undoes what the phases recorded as done (a database this run created is dropped)
 * and says what remains (undo.ts).
 */
export async function restoreBackup(
  input: RestoreInput,
  backup: ResolvedBackup,
  log: Logger,
  signal: AbortSignal,
): Promise<RestoreSummary> {
  const started = Date.now();
  log.addSecrets(...input.target.secrets);
  const pre = await preflight(input, backup, signal);
  const work = makeWorkDir(pre.dir, pre.dirSetting);
  const done: Done[] = [];
  try {
    const fetched = await fetchArchive(input, pre.client, backup, work, log, signal);
    throwIfInterrupted(signal, 'restore');
    const plan = await readWhatToApply(input, pre.client, backup, fetched.archive, log, signal);
    const ctx = { input, pre, backup, fetched, plan, log, signal };
    const applied = backup.manifest.parallel ? await applyParallel(ctx, done) : await applyRestore(ctx, done);
    return await summarize(input, backup, applied, started, log);
  } catch (caught) {
    throw await undoRestore(caught, done, input, pre.state, log, signal);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
