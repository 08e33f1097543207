import { describeError, ExitCode, InterruptedError, Stage, TaskError } from '../errors';

/**
 * Runs one step of a backup in its stage, so that every failure carries the stage it happened
 * in and the backup keeps no "current stage" of its own: a failure that is no TaskError (a bug)
 * is reported in it (exit 1). With `signal`, the step also stops waiting as soon as it aborts
 * (the interruption is reported in this stage); without, the step sees a signal through its own
 * means, or finishes first (the upload and manifest, once pg_dump has finished).
 */
export async function inStage<T>(stage: Stage, signal: AbortSignal | undefined, work: () => Promise<T> | T): Promise<T> {
  let onAbort: (() => void) | undefined;
  const interrupted = new Promise<never>((_, reject) => {
    if (!signal) return;
    onAbort = () => reject(new InterruptedError(String(signal.reason ?? 'a signal'), stage));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  interrupted.catch(() => undefined);
  try {
    return await Promise.race([Promise.resolve().then(work), interrupted]);
  } catch (err) {
    throw err instanceof TaskError ? err : new TaskError(describeError(err), { exitCode: ExitCode.INTERNAL, stage, cause: err });
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
