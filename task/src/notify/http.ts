import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { describeError } from '../errors';

/** One HTTP request to a receiver (a ping service, a chat webhook). */
export interface Delivery {
  readonly url: string;
  readonly method: 'POST';
  readonly body: string;
  readonly contentType: string;
}

/** How hard to try: each attempt is cut off after `timeoutMs`, and a failed one is retried after a short pause. */
export interface DeliveryPolicy {
  readonly timeoutMs: number;
  /** @default 3 */
  readonly attempts?: number;
  /** Pause before the second attempt; doubled before each further one. @default 500 */
  readonly backoffMs?: number;
}

/** A receiver's answer or failure, worded without its URL (URLs carry tokens). */
export class DeliveryError extends Error {
  /** Whether another attempt could succeed (timeouts, network errors, 5xx, 408, 429). */
  public readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.name = 'DeliveryError';
    this.retryable = retryable;
  }
}

/**
 * Sends `delivery`, retrying what may pass on another attempt; resolves with the number of
 * attempts it took, or rejects with the last {@link DeliveryError}. Each attempt, answer
 * included, is bounded by the timeout, so a receiver that hangs costs at most
 * attempts x timeout plus the pauses.
 */
export async function deliver(delivery: Delivery, policy: DeliveryPolicy): Promise<number> {
  const attempts = policy.attempts ?? 3;
  let pause = policy.backoffMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      await attemptOnce(delivery, policy.timeoutMs);
      return attempt;
    } catch (err) {
      const failure = err instanceof DeliveryError ? err : new DeliveryError(describeError(err), true);
      if (attempt >= attempts || !failure.retryable) {
        throw new DeliveryError(`${failure.message} (attempt ${attempt} of ${attempts})`, false);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause *= 2;
    }
  }
}

/** One request: settles once, on the whole answer (status and body read) or on the first failure or the timeout. */
function attemptOnce(delivery: Delivery, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(delivery.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const settle = (err?: DeliveryError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve();
    };
    const timer = setTimeout(() => settle(new DeliveryError(`no answer within ${Math.round(timeoutMs / 100) / 10} s`, true)), timeoutMs);
    const body = Buffer.from(delivery.body, 'utf8');
    const req = send(
      url,
      {
        method: delivery.method,
        // No connection pool: one request, then the socket closes (nothing keeps the process up).
        agent: false,
        headers: { 'content-type': delivery.contentType, 'content-length': body.length, 'user-agent': 'pg-s3-backup', connection: 'close' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', (e) => settle(new DeliveryError(`the answer broke off: ${describeError(e)}`, true)));
        res.on('end', () => {
          if (status >= 200 && status < 300) settle();
          else settle(new DeliveryError(`the receiver answered HTTP ${status}`, status >= 500 || status === 408 || status === 429));
        });
        res.resume();
      },
    );
    // Node's network errors name the address and port, never the path that holds the token.
    req.on('error', (e) => settle(new DeliveryError(describeError(e), true)));
    req.end(body);
  });
}

/** A path segment or query value at least this long is scrubbed on its own, as a token. */
const TOKEN_LENGTH = 16;

/**
 * The parts of a receiver's URL to scrub from every log line: the whole URL and its path and
 * query (where services put the token), as given and as URL-encoded.
 */
export function urlSecrets(url: string): string[] {
  const out = [url];
  if (URL.canParse(url)) {
    const u = new URL(url);
    out.push(u.href, `${u.host}${u.pathname}${u.search}`);
    const tail = `${u.pathname}${u.search}`;
    if (tail.length >= 8) out.push(tail);
    // A token on its own (a UUID, a webhook secret) is long; short segments are ordinary words ("services").
    for (const segment of u.pathname.split('/')) if (segment.length >= TOKEN_LENGTH) out.push(segment);
    for (const [, value] of u.searchParams) if (value.length >= TOKEN_LENGTH) out.push(value);
  }
  return out;
}

/** How a receiver is named in the log: its origin only (`https://hc-ping.com/…`); the path holds the token. */
export function receiverName(url: string): string {
  return URL.canParse(url) ? `${new URL(url).origin}/…` : 'a receiver';
}
