import { exitWord } from '../contract';
import { causeLine } from '../errors';
import { formatBytes } from '../log';
import { Outcome, RunKind } from './outcome';

/** How a run of each kind is named in messages. */
const NOUN: Record<RunKind, string> = { backup: 'backup', verify: 'verification' };

/** The longest cause line a message carries (a chat message, a ping body). */
const MAX_CAUSE = 300;

/** `45 s`, `3 min`, `2 h 5 min`: a duration as people read it in a chat message. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 90) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

/**
 * The line of a cause that says what went wrong (errors.ts `causeLine`: the last `error:`,
 * `fatal:` or `panic:` line, not pg_dump's trailing `detail:`), cut to a chat message's length.
 */
export function lastLine(cause: string | undefined): string {
  const line = cause?.trim() ? causeLine(cause) : 'no cause was given';
  return line.length > MAX_CAUSE ? `${line.slice(0, MAX_CAUSE - 1)}…` : line;
}

/**
 * One line a person reads in a chat channel or a ping's body:
 * `backup of orders: 1.2 GiB in 3 min`,
 * `backup of orders failed (exit 3 database, during connect): FATAL: password authentication failed…`,
 * `verification of orders: orders/202611240400.dump is intact (1.2 GiB) in 40 s`.
 */
export function outcomeText(o: Outcome): string {
  const noun = NOUN[o.kind];
  const partial = o.partial ? `; partial backup: ${o.partial}` : '';
  if (o.exitCode !== 0) {
    return `${noun} of ${o.database} failed (exit ${o.exitCode} ${exitWord(o.exitCode)}, during ${o.stage ?? 'the run'}): ${lastLine(o.cause)}`;
  }
  const size = o.bytes !== undefined ? formatBytes(o.bytes) : 'done';
  if (o.kind === 'verify') {
    return `${noun} of ${o.database}: ${o.key ?? 'the backup'} is intact${o.bytes !== undefined ? ` (${size})` : ''} in ${formatDuration(o.durationSeconds)}${partial}`;
  }
  return `${noun} of ${o.database}: ${size} in ${formatDuration(o.durationSeconds)}${partial}`;
}

/**
 * The body of the run's closing ping (healthchecks.io shows it): one line per database,
 * failures first, so that the line that matters is not cut off by the receiver's limit.
 */
export function pingBody(outcomes: readonly Outcome[]): string {
  const ordered = [...outcomes.filter((o) => o.exitCode !== 0), ...outcomes.filter((o) => o.exitCode === 0)];
  return ordered.map(outcomeText).join('\n') + '\n';
}
