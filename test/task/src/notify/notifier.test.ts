/**
 * The notifier against a real local HTTP receiver: what a run's closing ping and webhook
 * documents carry (masked as log lines are; the line of a cause that says what failed), and a
 * webhook receiver that fails one document is not sent the rest of the run's.
 */
import { Logger } from '../../../../task/src/log';
import { Outcome, startNotifying } from '../../../../task/src/notify';
import { Receiver, startReceiver } from '../../../support/http/receiver';

const PASSWORD = 'db-password-6c1f2e';
let receiver: Receiver;
let lines: string[];
let log: Logger;

beforeEach(async () => {
  receiver = await startReceiver();
  lines = [];
  log = new Logger({ format: 'json', write: (l) => lines.push(l) });
  log.addSecrets(PASSWORD);
});

afterEach(async () => {
  await receiver.stop();
});

const failure = (database: string): Outcome => ({
  kind: 'backup',
  database,
  exitCode: 3,
  stage: 'dump',
  // pg_dump's error, then its detail line; the password as a careless error might quote it
  cause: `pg_dump: error: connection to "postgres://backup:${PASSWORD}@db/${database}" failed: FATAL: no such user\npg_dump: detail: Query was: LOCK TABLE public.t IN ACCESS SHARE MODE`,
  durationSeconds: 2,
  partial: false,
  finishedAt: new Date('2026-12-05T04:00:00Z'),
});

const config = (over: { pingUrl?: string; webhookUrls?: string[] }) => ({
  pingUrl: over.pingUrl,
  webhookUrls: over.webhookUrls ?? [],
  metricsFile: undefined,
  timeoutSeconds: 1,
});

test('the closing ping and each webhook document are masked as log lines are, and name the error line, not the detail', async () => {
  const notifier = startNotifying(
    'backup',
    config({ pingUrl: `${receiver.origin}/ping/abc`, webhookUrls: [`${receiver.origin}/hook`] }),
    log,
    {
      attempts: 1,
      backoffMs: 0,
    },
  );
  await notifier.finish([failure('orders')]);
  const sent = receiver.requests.map((r) => r.body).join('\n');
  expect(sent).not.toContain(PASSWORD);
  expect(sent).toContain('***');
  const ping = receiver.to('/ping/abc/fail')[0].body;
  expect(ping).toMatch(
    /^backup of orders failed \(exit 3 database, during dump\): pg_dump: error: connection to .* FATAL: no such user\n$/,
  );
  const doc = JSON.parse(receiver.to('/hook')[0].body) as { text: string; cause: string };
  expect(doc.text).not.toMatch(/detail: Query was/);
  expect(doc.cause).not.toContain(PASSWORD);
});

test('a webhook receiver that failed a document for good is not sent the rest of the run, and says so once', async () => {
  receiver.mode = { kind: 'answer', status: 500 };
  const notifier = startNotifying('backup', config({ webhookUrls: [`${receiver.origin}/hook`] }), log, { attempts: 2, backoffMs: 0 });
  await notifier.finish([failure('a'), failure('b'), failure('c')]);
  // two attempts of the first document, then nothing more
  expect(receiver.to('/hook')).toHaveLength(2);
  expect(receiver.to('/hook').every((r) => (JSON.parse(r.body) as { database: string }).database === 'a')).toBe(true);
  const events = lines.map((l) => (JSON.parse(l) as { event: string }).event);
  expect(events.filter((e) => e === 'notify.failed')).toHaveLength(1);
  expect(lines.find((l) => l.includes('"notify.skipped"'))).toMatch(/Not sending the other 2 webhook documents/);
});

test('a receiver that answers gets every database, one document at a time', async () => {
  const notifier = startNotifying('backup', config({ webhookUrls: [`${receiver.origin}/hook`] }), log, { attempts: 1, backoffMs: 0 });
  await notifier.finish([failure('a'), failure('b'), failure('c')]);
  const hooks = receiver.to('/hook');
  expect(hooks.map((r) => (JSON.parse(r.body) as { database: string }).database)).toEqual(['a', 'b', 'c']);
});
