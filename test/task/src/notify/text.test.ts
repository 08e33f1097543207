import { failedOutcome, Outcome } from '../../../../task/src/notify';
import { formatDuration, lastLine, outcomeText, pingBody } from '../../../../task/src/notify/text';
import { webhookDocument } from '../../../../task/src/notify/webhook';
import { pingUrl } from '../../../../task/src/notify';

const at = new Date('2026-11-24T04:03:00Z');
const ok: Outcome = {
  kind: 'backup',
  database: 'orders',
  exitCode: 0,
  key: 'p/orders/202611240400.dump',
  bytes: 1.2 * 1024 ** 3,
  durationSeconds: 181,
  partial: false,
  finishedAt: at,
};
const failed = failedOutcome(
  'backup',
  'billing',
  {
    exitCode: 3,
    stage: 'connect',
    message:
      'pg_dump exited with code 1:\npg_dump: error: connection to server failed\nFATAL:  password authentication failed for user "backup"\n',
  },
  { durationSeconds: 0.4, partial: false, finishedAt: at },
);

describe('text for people', () => {
  test('a success and a failure read as a chat line', () => {
    expect(outcomeText(ok)).toBe('backup of orders: 1.2 GiB in 3 min');
    expect(outcomeText(failed)).toBe(
      'backup of billing failed (exit 3 database, during connect): FATAL:  password authentication failed for user "backup"',
    );
    expect(outcomeText({ ...ok, partial: 'schemas public' })).toBe('backup of orders: 1.2 GiB in 3 min; partial backup: schemas public');
    expect(outcomeText({ ...ok, kind: 'verify', durationSeconds: 40 })).toBe(
      'verification of orders: p/orders/202611240400.dump is intact (1.2 GiB) in 40 s',
    );
  });

  test('durations, and the last line of a cause cut to a chat message', () => {
    expect([0, 45, 89, 90, 180, 5340, 5400, 7500].map(formatDuration)).toEqual([
      '0 s',
      '45 s',
      '89 s',
      '2 min',
      '3 min',
      '89 min',
      '1 h 30 min',
      '2 h 5 min',
    ]);
    expect(lastLine('first\nsecond\n\n')).toBe('second');
    expect(lastLine(undefined)).toBe('no cause was given');
    expect(lastLine('x'.repeat(1000))).toHaveLength(300);
  });

  test('the ping body has a line per database, failures first', () => {
    expect(pingBody([ok, failed])).toBe(`${outcomeText(failed)}\n${outcomeText(ok)}\n`);
  });

  test('ping URLs: /start and /fail appended to the path, the query kept; success is the URL itself', () => {
    expect(pingUrl('https://hc-ping.com/abc', 'start')).toBe('https://hc-ping.com/abc/start');
    expect(pingUrl('https://hc-ping.com/abc/', 'fail')).toBe('https://hc-ping.com/abc/fail');
    expect(pingUrl('https://hc-ping.com/key/slug?create=1', 'fail')).toBe('https://hc-ping.com/key/slug/fail?create=1');
    expect(pingUrl('https://hc-ping.com/abc', undefined)).toBe('https://hc-ping.com/abc');
  });
});

describe('the webhook document', () => {
  test('says what happened for machines, and what partial means', () => {
    expect(webhookDocument(failed, 'shop')).toEqual({
      text: outcomeText(failed),
      event: 'backup.failed',
      command: 'backup',
      database: 'billing',
      ok: false,
      exitCode: 3,
      exitWord: 'database',
      stage: 'connect',
      cause: failed.cause,
      key: null,
      bytes: null,
      durationSeconds: 0.4,
      partial: false,
      selection: null,
      project: 'shop',
      host: expect.any(String),
      time: '2026-11-24T04:03:00.000Z',
    });
    expect(webhookDocument({ ...ok, partial: 'schemas public' }, undefined)).toMatchObject({
      event: 'backup.complete',
      ok: true,
      exitWord: 'success',
      stage: null,
      partial: true,
      selection: 'schemas public',
      project: null,
    });
    // A drill that failed before it read the manifest does not know.
    expect(webhookDocument({ ...failed, kind: 'verify', partial: undefined }, undefined)).toMatchObject({
      event: 'verify.failed',
      partial: null,
    });
  });
});
