import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupConfig } from '../../../../task/src/config/backup';
import { listConfig, restoreConfig, statusConfig, verifyConfig } from '../../../../task/src/config/readers';
import { cliProblemsOf } from '../../../support/config-problems';

const base = { BACKUP_BUCKET: 'my-backups', PGDATABASE: 'app' };
const TOKEN = '5f1d7e2a-0c1b-4e6f-9d3a-7b8c9d0e1f2a';

const problemsOf = cliProblemsOf;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pg-s3-backup-notify-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('notification settings', () => {
  test('backup and verify read the ping URL, the webhook URLs (spaces or newlines between them) and the metrics file', () => {
    const env = {
      ...base,
      BACKUP_PING_URL: `https://hc-ping.com/${TOKEN}`,
      BACKUP_WEBHOOK_URLS: ' https://hooks.slack.com/services/T0/B0/abc,def \n https://chat.example.com/hooks/xyz ',
      BACKUP_METRICS_FILE: join(dir, 'pg-s3-backup.prom'),
    };
    const expected = {
      pingUrl: `https://hc-ping.com/${TOKEN}`,
      // A comma may be part of a URL: only whitespace separates them.
      webhookUrls: ['https://hooks.slack.com/services/T0/B0/abc,def', 'https://chat.example.com/hooks/xyz'],
      metricsFile: join(dir, 'pg-s3-backup.prom'),
      timeoutSeconds: 10,
    };
    expect(backupConfig([], env, false).notify).toEqual(expected);
    expect(verifyConfig(['--latest'], env, false).notify).toEqual(expected);
    // Repeated flags win over the variable.
    expect(
      backupConfig(['--webhook-url', 'https://a.example/x', '--webhook-url', 'https://b.example/y'], env, false).notify.webhookUrls,
    ).toEqual(['https://a.example/x', 'https://b.example/y']);
    expect(backupConfig([], base, false).notify).toEqual({
      pingUrl: undefined,
      webhookUrls: [],
      metricsFile: undefined,
      timeoutSeconds: 10,
    });
  });

  test('URLs that are not http(s), not URLs, or carry a password are refused, every problem at once, none of them echoed', () => {
    const secretPath = `/${TOKEN}`;
    const problems = problemsOf(() =>
      backupConfig(
        ['--ping-url', `ftp://hc-ping.com${secretPath}`],
        {
          ...base,
          BACKUP_WEBHOOK_URLS: `hooks.slack.com${secretPath} https://user:pa55word@chat.example.com${secretPath}`,
          BACKUP_NOTIFY_TIMEOUT_SECONDS: '0',
        },
        false,
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^BACKUP_NOTIFY_TIMEOUT_SECONDS must be a whole number from 1 to 15/),
      '--ping-url must be an http:// or https:// URL; got a ftp: URL.',
      expect.stringMatching(/^BACKUP_WEBHOOK_URLS \(URL 1 of 2\) is not a URL \(its value is not shown/),
      expect.stringMatching(/^BACKUP_WEBHOOK_URLS \(URL 2 of 2\) holds a user name or password/),
    ]);
    const said = problems.join('\n');
    for (const secret of [TOKEN, 'pa55word', 'hooks.slack.com', 'chat.example.com'])
      expect({ secret, said: said.includes(secret) }).toEqual({ secret, said: false });
  });

  test('a webhook URL with a control character is refused without showing it', () => {
    const problems = problemsOf(() => backupConfig(['--webhook-url', `https://x.example/${TOKEN}\u0007`], base, false));
    expect(problems).toEqual([expect.stringMatching(/^--webhook-url has an empty item or one with control characters\.$/)]);
  });

  test('the metrics file must be a *.prom file in a writable directory', () => {
    const readOnly = join(dir, 'read-only');
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o555);
    const problems = [
      ...problemsOf(() => backupConfig(['--metrics-file', join(dir, 'metrics.txt')], base, false)),
      ...problemsOf(() => backupConfig(['--metrics-file', join(dir, 'missing', 'x.prom')], base, false)),
      ...problemsOf(() => verifyConfig(['--latest', '--metrics-file', join(dir, 'gone', 'x.prom')], base, false)),
    ];
    expect(problems).toEqual([
      expect.stringMatching(/must be a file name ending in \.prom: node_exporter's textfile collector reads only \*\.prom files/),
      expect.stringMatching(/the directory '.*missing' does not exist/),
      expect.stringMatching(/the directory '.*gone' does not exist/),
    ]);
    // root writes anywhere: the permission check is only seen as another user.
    if (process.getuid?.() !== 0) {
      expect(problemsOf(() => backupConfig(['--metrics-file', join(readOnly, 'x.prom')], base, false))).toEqual([
        expect.stringMatching(/is not writable by this user/),
      ]);
    }
    mkdirSync(join(dir, 'a.prom'));
    expect(problemsOf(() => backupConfig(['--metrics-file', join(dir, 'a.prom')], base, false))).toEqual([
      expect.stringMatching(/is a directory/),
    ]);
  });

  test('list, status and restore do not take the flags; their variables, shared by every command, are ignored there', () => {
    for (const [name, config] of [
      ['list', listConfig],
      ['status', statusConfig],
      ['restore', restoreConfig],
    ] as const) {
      expect({ name, problems: problemsOf(() => config(['--ping-url', 'https://hc-ping.com/x'], base, false)) }).toEqual({
        name,
        problems: expect.arrayContaining([`'--ping-url' does not apply to '${name}'. Remove it.`]),
      });
    }
    expect(() => statusConfig([], { ...base, BACKUP_PING_URL: 'not a url' }, false)).not.toThrow();
  });
});
