import { Logger } from '../log';
import { deliver, Delivery, DeliveryPolicy, receiverName, urlSecrets } from './http';
import { writeMetricsFile } from './metrics-file';
import { anyFailed, Outcome, RunKind } from './outcome';
import { pingBody } from './text';
import { webhookDocument } from './webhook';

export type { Outcome, RunKind, ReportedFailure } from './outcome';
export { anyFailed, failedOutcome } from './outcome';
export type { WebhookDocument } from './webhook';

/** Where a run reports its outcomes besides the log: every field optional, nothing is sent without one. */
export interface NotifyConfig {
  /** Dead man's switch (healthchecks.io convention): `<url>/start`, then `<url>` or `<url>/fail`. */
  readonly pingUrl?: string;
  /** Each receives one JSON document (a {@link WebhookDocument}) per outcome. */
  readonly webhookUrls: readonly string[];
  /** The Prometheus textfile-collector file (see metrics-file.ts). */
  readonly metricsFile?: string;
  /** Seconds each attempt of a ping or webhook may take. */
  readonly timeoutSeconds: number;
}

/** What the run's caller needs besides the outcomes. */
export interface NotifyContext {
  /** --project: a label of the metrics and a field of the webhook documents. */
  readonly project?: string;
  /** Attempts per delivery and the pause between them. @default 3 attempts, 500 ms doubling */
  readonly attempts?: number;
  readonly backoffMs?: number;
}

/** A run that has announced its start; {@link RunNotifier.finish} reports how it ended. */
export interface RunNotifier {
  /**
   * Reports the run's outcomes, one per database (a run of one database is a list of one):
   * the closing ping (`/fail` when any failed, its body a line per database), one webhook
   * document per outcome to each URL, and the metrics file. Never rejects: a receiver that
   * fails, refuses or hangs (past the timeout and the retries) or a metrics file that cannot
   * be written is a warning, and the run's exit code stays its own.
   * `runLevel`: the outcome is the whole run's, which failed before any database (listing the
   * databases of --all-databases, their globals): pinged and posted, but kept out of the metrics
   * file, whose series are per database (their last attempt stays old, and an alert on the last
   * success's age fires).
   */
  finish(outcomes: readonly Outcome[], options?: { readonly runLevel?: boolean }): Promise<void>;
}

/**
 * Starts notifying for a run of `kind`: registers every URL with the logger as a secret (so
 * that no log line or error prints it), and sends the `/start` ping without waiting for it
 * (a receiver that hangs does not delay the run; `finish` waits for it, so that the start
 * reaches the receiver before the end).
 */
export function startNotifying(kind: RunKind, config: NotifyConfig, log: Logger, context: NotifyContext = {}): RunNotifier {
  for (const url of [...(config.pingUrl ? [config.pingUrl] : []), ...config.webhookUrls]) log.addSecrets(...urlSecrets(url));
  const policy: DeliveryPolicy = { timeoutMs: config.timeoutSeconds * 1000, attempts: context.attempts, backoffMs: context.backoffMs };
  const started = config.pingUrl
    ? send(log, policy, 'the start ping', { url: pingUrl(config.pingUrl, 'start'), method: 'POST', body: '', contentType: 'text/plain' })
    : Promise.resolve();
  return {
    async finish(outcomes, options) {
      await started;
      const failed = anyFailed(outcomes);
      const sends: Promise<unknown>[] = [];
      if (config.pingUrl) {
        const url = pingUrl(config.pingUrl, failed ? 'fail' : undefined);
        // A failure's cause may quote what the logger masks (a password in an error): the same mask.
        const body = log.scrub(pingBody(outcomes));
        sends.push(
          send(log, policy, `the ${failed ? 'fail' : 'success'} ping`, {
            url,
            method: 'POST',
            body,
            contentType: 'text/plain; charset=utf-8',
          }),
        );
      }
      // Each URL gets its documents one at a time (chat webhooks limit their rate, about one a
      // second for Slack); a receiver that failed one for good is not sent the rest.
      for (const url of config.webhookUrls)
        sends.push(
          (async () => {
            for (const [i, outcome] of outcomes.entries()) {
              const body = JSON.stringify(webhookDocument(outcome, context.project), (_key, v: unknown) =>
                typeof v === 'string' ? log.scrub(v) : v,
              );
              const what = `the ${kind} webhook for ${outcome.database}`;
              if (await send(log, policy, what, { url, method: 'POST', body, contentType: 'application/json' })) continue;
              const left = outcomes.length - i - 1;
              if (left > 0)
                log.warn(
                  'notify.skipped',
                  `Not sending the other ${left} webhook documents to ${receiverName(url)}: it failed the last one`,
                  {
                    receiver: receiverName(url),
                  },
                );
              return;
            }
          })(),
        );
      if (config.metricsFile && !options?.runLevel) sends.push(writeMetrics(log, config.metricsFile, outcomes, context.project));
      await Promise.all(sends);
    },
  };
}

/** The ping URL of an event: `<url>/start`, `<url>/fail`, or `<url>` itself for success (its query kept). */
export function pingUrl(base: string, event: 'start' | 'fail' | undefined): string {
  if (!event) return base;
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/${event}`;
  return u.href;
}

/** Sends one delivery; its failure is a warning (the receiver named by its origin only). Whether it was delivered. */
async function send(log: Logger, policy: DeliveryPolicy, what: string, delivery: Delivery): Promise<boolean> {
  try {
    const attempts = await deliver(delivery, policy);
    log.info('notify.sent', `Sent ${what} to ${receiverName(delivery.url)}${attempts > 1 ? ` (attempt ${attempts})` : ''}`, {
      receiver: receiverName(delivery.url),
    });
    return true;
  } catch (err) {
    log.warn(
      'notify.failed',
      `Could not send ${what} to ${receiverName(delivery.url)}: ${err instanceof Error ? err.message : String(err)}; the run's outcome stands`,
      {
        receiver: receiverName(delivery.url),
      },
    );
    return false;
  }
}

/** Writes the metrics file; a failure is a warning. */
async function writeMetrics(log: Logger, path: string, outcomes: readonly Outcome[], project: string | undefined): Promise<void> {
  try {
    const written = await writeMetricsFile(path, outcomes, project);
    log.info('notify.metrics', `Wrote ${written.series} series to the metrics file ${path}`, { path, series: written.series });
    if (written.ignored > 0)
      log.warn(
        'notify.metrics-dropped',
        `Dropped ${written.ignored} lines of ${path} that are not this tool's series (the file is rewritten whole)`,
        { path },
      );
  } catch (err) {
    log.warn('notify.metrics-failed', `Could not write the metrics file ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      path,
    });
  }
}
