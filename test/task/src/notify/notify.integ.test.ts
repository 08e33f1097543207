/**
 * Pings, webhooks and the metrics file (#22) of backup and verify, against real servers: a
 * PostgreSQL cluster, the local S3 server, and local HTTP listeners standing in for the ping
 * service (healthchecks.io's convention) and the chat webhook. The metrics file is checked by
 * Prometheus's own promtool.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupTestEnv, startBackupTestEnv } from '../../../support/backup-env';
import { CliRun, eventOf, runCli } from '../../../support/cli';
import { Receiver, refusingOrigin, startReceiver } from '../../../support/http/receiver';
import { promtoolCheck } from '../../../support/promtool';

let env: BackupTestEnv;
let receiver: Receiver;
let dir: string;
const PREFIX = 'nt';
/** The tokens the URLs carry, as healthchecks.io (a check's UUID) and Slack (a secret path) put them. */
const PING_TOKEN = randomUUID();
const HOOK_SECRET = randomBytes(12).toString('hex');
const HOOK_PATH = `/services/T0NOTIFY/B0NOTIFY/${HOOK_SECRET}`;

const pingUrl = () => `${receiver.origin}/ping/${PING_TOKEN}`;
const hookUrl = () => `${receiver.origin}${HOOK_PATH}`;
const metricsPath = () => join(dir, 'pg-s3-backup.prom');
const notifyEnv = (extra: Record<string, string> = {}) => ({
  BACKUP_PING_URL: pingUrl(),
  BACKUP_WEBHOOK_URLS: hookUrl(),
  BACKUP_METRICS_FILE: metricsPath(),
  BACKUP_NOTIFY_TIMEOUT_SECONDS: '1',
  ...extra,
});

/** No URL of a receiver, nor its token, in anything the CLI printed. */
function expectNoSecrets(run: CliRun): void {
  const printed = run.stdout + run.stderr;
  for (const secret of [PING_TOKEN, HOOK_SECRET, HOOK_PATH, `${receiver.origin}/ping`, `${receiver.origin}/services`])
    expect({ secret, printed: printed.includes(secret) }).toEqual({ secret, printed: false });
}

/** The value of `name{database="<database>"}` in a metrics file's text. */
function metric(text: string, name: string, database: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{database="${database}"} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const pingPaths = () => receiver.to('/ping/').map((r) => r.path.replace(PING_TOKEN, '<token>'));
const webhookDocs = () => receiver.to('/services/').map((r) => JSON.parse(r.body));

beforeAll(async () => {
  env = await startBackupTestEnv();
  for (const database of ['orders', 'billing', 'shop']) {
    await env.pg.createDatabase(database);
    await env.pg.psql(
      'create table t (id int primary key, v text); insert into t select g, md5(g::text) from generate_series(1, 2000) g;',
      {
        database,
      },
    );
  }
  receiver = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-notify-'));
}, 180_000);

afterAll(async () => {
  await receiver?.stop();
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  receiver.requests.length = 0;
  receiver.mode = { kind: 'answer', status: 200 };
});

describe('backup', () => {
  test('a passing run pings start then success, posts one document, and writes a metrics file promtool accepts (text log)', async () => {
    const run = await runCli(['backup'], env.cliEnv('orders', PREFIX, { ...notifyEnv(), LOG_FORMAT: 'text' }));
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pingPaths()).toEqual([`/ping/<token>/start`, `/ping/<token>`]);
    const success = receiver.to('/ping/')[1];
    expect(success.body).toMatch(/^backup of orders: \d+(\.\d)? KiB in \d+ s\n$/);

    const [doc] = webhookDocs();
    expect(webhookDocs()).toHaveLength(1);
    expect(doc).toMatchObject({
      event: 'backup.complete',
      command: 'backup',
      database: 'orders',
      ok: true,
      exitCode: 0,
      exitWord: 'success',
      stage: null,
      cause: null,
      key: expect.stringMatching(/^nt\/orders\/\d{12}\.dump$/),
      bytes: expect.any(Number),
      partial: false,
      selection: null,
    });
    expect(doc.text).toBe(success.body.trim());
    expect(receiver.to('/services/')[0].contentType).toBe('application/json');

    const text = readFileSync(metricsPath(), 'utf8');
    expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });
    expect(metric(text, 'pg_s3_backup_last_exit_code', 'orders')).toBe(0);
    expect(metric(text, 'pg_s3_backup_last_success_bytes', 'orders')).toBe(doc.bytes);
    const successAt = metric(text, 'pg_s3_backup_last_success_timestamp_seconds', 'orders')!;
    expect(Math.abs(successAt - Date.now() / 1000)).toBeLessThan(60);
    expect(metric(text, 'pg_s3_backup_last_attempt_timestamp_seconds', 'orders')).toBe(successAt);
    expectNoSecrets(run);
  });

  test('a failing run (wrong password) pings start then fail with the exit word, and keeps the last success in the metrics file (JSON log)', async () => {
    const before = readFileSync(metricsPath(), 'utf8');
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a later attempt time than the success's
    const run = await runCli(['backup'], env.cliEnv('orders', PREFIX, { ...notifyEnv(), PGPASSWORD: 'wrong-password' }));
    expect(run.code).toBe(3);
    expect(pingPaths()).toEqual([`/ping/<token>/start`, `/ping/<token>/fail`]);
    const body = receiver.to('/ping/')[1].body;
    expect(body).toMatch(/^backup of orders failed \(exit 3 database, during connect\): .*password authentication failed/);

    expect(webhookDocs()).toEqual([
      expect.objectContaining({
        event: 'backup.failed',
        database: 'orders',
        ok: false,
        exitCode: 3,
        exitWord: 'database',
        stage: 'connect',
        cause: expect.stringContaining('password authentication failed'),
        key: null,
        partial: false,
      }),
    ]);

    const text = readFileSync(metricsPath(), 'utf8');
    expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });
    expect(metric(text, 'pg_s3_backup_last_exit_code', 'orders')).toBe(3);
    // The last success stands; the attempt is this one.
    const lastSuccess = metric(before, 'pg_s3_backup_last_success_timestamp_seconds', 'orders');
    expect(metric(text, 'pg_s3_backup_last_success_timestamp_seconds', 'orders')).toBe(lastSuccess);
    expect(metric(text, 'pg_s3_backup_last_attempt_timestamp_seconds', 'orders')).toBeGreaterThan(lastSuccess!);
    expect(eventOf(run, 'backup.failed')).toMatchObject({ exitCode: 3 });
    expectNoSecrets(run);
  });

  test('a receiver that refuses connections or hangs leaves the exit code as it was, and costs at most its timeout and retries', async () => {
    const plain = await runCli(['backup'], env.cliEnv('billing', PREFIX));
    expect(plain.code).toBe(0);
    const hanging = await startReceiver({ kind: 'hang' });
    const refused = await refusingOrigin();
    try {
      const hangingEnv = {
        BACKUP_PING_URL: `${hanging.origin}/ping/${PING_TOKEN}`,
        BACKUP_WEBHOOK_URLS: `${refused}${HOOK_PATH}\n${hanging.origin}${HOOK_PATH}`,
        BACKUP_NOTIFY_TIMEOUT_SECONDS: '1',
      };
      const run = await runCli(['backup'], env.cliEnv('billing', PREFIX, hangingEnv));
      expect(run.code).toBe(0);
      eventOf(run, 'backup.complete');
      const warnings = run.events.filter((e) => e.event === 'notify.failed').map((e) => String(e.msg));
      expect(warnings).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/start ping .*no answer within 1 s \(attempt 3 of 3\)/),
          expect.stringMatching(/success ping .*no answer within 1 s \(attempt 3 of 3\)/),
          expect.stringMatching(/webhook for billing .*ECONNREFUSED.*\(attempt 3 of 3\)/),
          expect.stringMatching(/webhook for billing .*no answer within 1 s \(attempt 3 of 3\)/),
        ]),
      );
      // Three attempts of the hanging receiver each for the start ping and the closing one.
      expect(hanging.to('/ping/').map((r) => r.path.replace(PING_TOKEN, '<token>'))).toEqual([
        ...Array(3).fill('/ping/<token>/start'),
        ...Array(3).fill('/ping/<token>'),
      ]);
      // The start ping goes while the backup runs; the closing ones wait for it, then go together:
      // at most twice (3 attempts x 1 s + 0.5 s + 1 s of pauses), plus slack for a busy machine.
      expect(run.ms - plain.ms).toBeLessThan(2 * 4.5 * 1000 + 5000);
      expectNoSecrets(run);

      // A failing run stays failing, with its own code.
      const failing = await runCli(['backup'], env.cliEnv('billing', PREFIX, { ...hangingEnv, PGPASSWORD: 'wrong-password' }));
      expect(failing.code).toBe(3);
      expectNoSecrets(failing);
    } finally {
      await hanging.stop();
    }
  }, 120_000);

  test('runs of several databases at once share one metrics file: each keeps the others, and a reader never sees it half-written', async () => {
    const path = join(dir, 'shared.prom');
    expect((await runCli(['backup'], env.cliEnv('shop', PREFIX))).code).toBe(0); // for the drills below
    const seen: string[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        try {
          seen.push(readFileSync(path, 'utf8'));
        } catch {
          // not written yet
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    // Backups of three databases and two drills, all at once (two runs of one database would race for its key).
    const runs = await Promise.all([
      ...['orders', 'billing', 'shop'].map((database) => runCli(['backup'], env.cliEnv(database, PREFIX, { BACKUP_METRICS_FILE: path }))),
      ...[1, 2].map(() => runCli(['verify', '--latest', '--dbname', 'shop'], { ...env.cliEnv('shop', PREFIX), BACKUP_METRICS_FILE: path })),
    ]);
    polling = false;
    await poll;
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);
    const text = readFileSync(path, 'utf8');
    expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });
    for (const database of ['orders', 'billing', 'shop'])
      expect({ database, code: metric(text, 'pg_s3_backup_last_exit_code', database) }).toEqual({ database, code: 0 });
    expect(metric(text, 'pg_s3_backup_drill_success', 'shop')).toBe(1);
    // Every version a reader saw was a whole file: it parses, and holds every family's HELP and TYPE.
    const distinct = [...new Set(seen)];
    expect(seen.length).toBeGreaterThan(10);
    for (const version of distinct) {
      expect(version).toMatch(/^# HELP pg_s3_backup_\w+ /);
      expect(version.endsWith('\n')).toBe(true);
      expect(promtoolCheck(version)).toEqual({ code: 0, output: '' });
    }
  }, 180_000);
});

describe('verify (the drill)', () => {
  test('a passing drill pings start then success and adds its series beside the backup ones; a failing one pings fail', async () => {
    const run = await runCli(['verify', '--latest', '--dbname', 'orders'], { ...env.cliEnv('orders', PREFIX), ...notifyEnv() });
    expect(run.code).toBe(0);
    expect(pingPaths()).toEqual([`/ping/<token>/start`, `/ping/<token>`]);
    const key = String(eventOf(run, 'verify.ok').key);
    expect(receiver.to('/ping/')[1].body).toMatch(
      new RegExp(`^verification of orders: ${key} is intact \\(\\d+(\\.\\d)? KiB\\) in \\d+ s\\n$`),
    );
    expect(webhookDocs()).toEqual([
      expect.objectContaining({ event: 'verify.ok', command: 'verify', database: 'orders', key, ok: true, partial: false }),
    ]);
    const text = readFileSync(metricsPath(), 'utf8');
    expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });
    expect(metric(text, 'pg_s3_backup_drill_success', 'orders')).toBe(1);
    expect(metric(text, 'pg_s3_backup_drill_last_exit_code', 'orders')).toBe(0);
    // The backup's series of the earlier runs are still there.
    expect(metric(text, 'pg_s3_backup_last_exit_code', 'orders')).toBe(3);
    expectNoSecrets(run);

    receiver.requests.length = 0;
    const missing = `${PREFIX}/orders/209901010000.dump`;
    const failed = await runCli(['verify', '--key', missing], { ...env.cliEnv('orders', PREFIX), ...notifyEnv() });
    expect(failed.code).not.toBe(0);
    const word = String(eventOf(failed, 'verify.failed').exitCode);
    expect(pingPaths()).toEqual([`/ping/<token>/start`, `/ping/<token>/fail`]);
    expect(receiver.to('/ping/')[1].body).toMatch(new RegExp(`^verification of orders failed \\(exit ${word} \\w+, during \\w+\\): `));
    expect(webhookDocs()).toEqual([
      expect.objectContaining({ event: 'verify.failed', database: 'orders', key: missing, ok: false, exitCode: failed.code }),
    ]);
    const after = readFileSync(metricsPath(), 'utf8');
    expect(metric(after, 'pg_s3_backup_drill_success', 'orders')).toBe(0);
    expect(metric(after, 'pg_s3_backup_drill_last_success_timestamp_seconds', 'orders')).toBe(
      metric(text, 'pg_s3_backup_drill_last_success_timestamp_seconds', 'orders'),
    );
    expectNoSecrets(failed);
  });
});
