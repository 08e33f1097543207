import { Logger } from '../../../task/src/log';

function capture(format: 'json' | 'text') {
  const lines: string[] = [];
  const log = new Logger({ format, write: (l) => lines.push(l), now: () => new Date('2026-11-24T04:00:00.000Z') });
  return { log, lines };
}

describe('Logger', () => {
  test('json: one object per line with time, level, event, message and fields', () => {
    const { log, lines } = capture('json');
    log.info('backup.start', 'Backing up app', { database: 'app', bytes: 12 });
    expect(JSON.parse(lines[0])).toEqual({
      time: '2026-11-24T04:00:00.000Z',
      level: 'info',
      event: 'backup.start',
      msg: 'Backing up app',
      database: 'app',
      bytes: 12,
    });
  });

  test('secrets are scrubbed from every line, also URL-encoded', () => {
    const { log, lines } = capture('json');
    log.addSecrets('p@ss word!', 'ab');
    log.error('x', 'failed with p@ss word! and p%40ss%20word!', { cause: 'p@ss word!' });
    expect(lines[0]).not.toContain('p@ss word!');
    expect(lines[0]).not.toContain('p%40ss%20word!');
    expect(lines[0]).toContain('***');
    // Too-short "secrets" are not scrubbed: they would blank ordinary text.
    expect(log.scrub('abc')).toBe('abc');
  });

  test('metrics are Embedded Metric Format with the given dimensions', () => {
    const { log, lines } = capture('json');
    log.metrics('PgS3Backup', { Project: 'shop', Database: 'app' }, [
      { name: 'BackupSuccess', unit: 'Count', value: 1 },
      { name: 'BackupBytes', unit: 'Bytes', value: 42 },
    ]);
    expect(JSON.parse(lines[0])).toEqual({
      _aws: {
        Timestamp: Date.parse('2026-11-24T04:00:00.000Z'),
        CloudWatchMetrics: [
          {
            Namespace: 'PgS3Backup',
            Dimensions: [['Project', 'Database']],
            Metrics: [
              { Name: 'BackupSuccess', Unit: 'Count' },
              { Name: 'BackupBytes', Unit: 'Bytes' },
            ],
          },
        ],
      },
      event: 'metrics',
      Project: 'shop',
      Database: 'app',
      BackupSuccess: 1,
      BackupBytes: 42,
    });
  });

  test('text is readable: time, level, message; details only for problems', () => {
    const { log, lines } = capture('text');
    log.info('backup.start', 'Backing up app', { database: 'app' });
    log.error('backup.failed', 'pg_dump exited with code 1', { stage: 'dump', exitCode: 3 });
    expect(lines[0]).toBe('04:00:00 INFO  Backing up app');
    expect(lines[1]).toBe('04:00:00 ERROR pg_dump exited with code 1\n      stage=dump exitCode=3');
  });
});
