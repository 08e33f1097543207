import { describeError, interruptedOr, TaskError } from '../errors';
import { Logger } from '../log';
import { dropDatabase, TargetState } from '../postgres/target-db';
import { RestoreInput } from './types';
import { withDatabase } from '../postgres/connection';

/**
 * What a restore has done so far that a failure leaves behind, appended by the phases as each
 * step takes effect. {@link undoRestore} undoes what can be undone and says what remains, so
 * that nobody has to guess under stress.
 */
export type Done =
  /** Roles and tablespaces were applied to the server (cluster-wide: they stay). */
  | { readonly kind: 'globals' }
  /** This run created the target database (or, `database`, a parallel restore's temporary one): a failure drops it again. */
  | { readonly kind: 'created'; readonly database?: string }
  /** A parallel restore's temporary database was renamed into place: the restore is complete. */
  | { readonly kind: 'renamed' }
  /** The one-pass restore began: its transaction commits only at the very end. */
  | { readonly kind: 'streaming' }
  /** The content's transaction committed into an existing database; its properties come after. */
  | { readonly kind: 'committed' };

/** What a failure leaves of the target, in words, given what was done. */
export function aftermath(done: readonly Done[], input: Pick<RestoreInput, 'target'>, state: Pick<TargetState, 'exists'>): string {
  const has = (kind: Done['kind']) => done.some((d) => d.kind === kind);
  const { target } = input;
  if (has('committed'))
    return `The backup's content was restored into ${target.display} (its transaction committed), but the source database's own settings, privileges and comment were not applied.`;
  const notes = [
    ...(has('globals') ? ['Roles and tablespaces from the backup were applied to the server and remain.'] : []),
    ...(has('streaming')
      ? [
          `The restore ran in one transaction, never committed: ${state.exists ? `'${target.database}' is as it was.` : 'nothing of it remains.'}`,
        ]
      : []),
  ];
  return notes.join(' ') || `The target ${target.display} was not touched.`;
}

/**
 * After a failure: drops a database this run created, or says what remains, and returns the
 * error to report. Stopped by a signal, whatever failed on the way (a killed child, an aborted
 * transfer) reads as the interruption.
 */
export async function undoRestore(
  caught: unknown,
  done: readonly Done[],
  input: Pick<RestoreInput, 'tools' | 'target'>,
  state: TargetState,
  log: Logger,
  signal: AbortSignal,
): Promise<unknown> {
  const err = interruptedOr(caught, signal, caught instanceof TaskError ? caught.stage : 'restore');
  const created = done.find((d) => d.kind === 'created');
  const target = created?.database ? withDatabase(input.target, created.database) : input.target;
  if (!created || done.some((d) => d.kind === 'renamed')) {
    log.warn('restore.target', aftermath(done, input, state));
    return err;
  }
  await dropDatabase(input.tools, target, state).then(
    () => log.warn('restore.rollback', `Dropped the database '${target.database}' this run had created, so the target is as it was.`),
    (dropErr) =>
      log.error(
        'restore.rollback-failed',
        `Could not drop '${target.database}' after the failed restore: ${describeError(dropErr)}. Drop it by hand.`,
      ),
  );
  return err;
}
