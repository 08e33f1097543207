import {
  chooseStem,
  databaseFolder,
  keysFor,
  parseBackupKey,
  prefixProblems,
  tierFor,
  timestampOf,
} from '../../../../task/src/contract/key';

describe('key naming', () => {
  const start = new Date('2026-03-04T04:05:59.999Z');

  test('keys are <prefix>/<database>/<YYYYMMDDHHmm>.dump in UTC, like the cron line', () => {
    expect(timestampOf(start)).toBe('202603040405');
    const stem = chooseStem('proj/prod', 'app', start, []);
    expect(keysFor(stem)).toEqual({
      stem: 'proj/prod/app/202603040405',
      dump: 'proj/prod/app/202603040405.dump',
      manifest: 'proj/prod/app/202603040405.manifest.json',
      globals: 'proj/prod/app/202603040405.globals.sql',
    });
    expect(chooseStem(undefined, 'app', start, [])).toBe('app/202603040405');
  });

  test('a second backup in the same minute gets a new key instead of overwriting', () => {
    expect(chooseStem('p', 'app', start, ['p/app/202603040405.dump'])).toBe('p/app/202603040405-2');
    // A leftover manifest or globals file also reserves the stem.
    expect(chooseStem('p', 'app', start, ['p/app/202603040405.manifest.json', 'p/app/202603040405-2.dump'])).toBe('p/app/202603040405-3');
  });

  test('parses the keys it writes and ignores others', () => {
    expect(parseBackupKey('p/app/202603040405-2.manifest.json')).toEqual({
      stem: 'p/app/202603040405-2',
      stamp: '202603040405',
      sequence: 2,
      kind: 'manifest',
    });
    expect(parseBackupKey('p/app/202603040405.dump')).toMatchObject({ sequence: 1, kind: 'dump' });
    expect(parseBackupKey('p/app/notes.txt')).toBeUndefined();
  });

  test('database names that are not plainly safe are percent-encoded', () => {
    expect(databaseFolder('p', 'Ünïcode_db-1')).toBe('p/Ünïcode_db-1/');
    expect(databaseFolder('p', 'a/b c')).toBe('p/a%2Fb%20c/');
    expect(databaseFolder(undefined, '..')).toBe('%2E%2E/');
  });

  test('prefix validation names the value and the fix', () => {
    expect(prefixProblems('ok/prefix')).toEqual([]);
    expect(prefixProblems('/ok/')).toEqual([]);
    expect(prefixProblems('a//b')).toEqual([expect.stringMatching(/BACKUP_PREFIX 'a\/\/b' has an empty/)]);
    expect(prefixProblems('a/../b')).toHaveLength(1);
  });

  test('retention tier: monthly on the 1st, weekly on Sundays, daily otherwise (UTC)', () => {
    expect(tierFor(new Date('2026-11-01T04:00:00Z'))).toBe('monthly'); // a Sunday, but the 1st wins
    expect(tierFor(new Date('2026-11-08T04:00:00Z'))).toBe('weekly');
    expect(tierFor(new Date('2026-11-09T04:00:00Z'))).toBe('daily');
    expect(tierFor(new Date('2026-11-09T04:00:00Z'), 'monthly')).toBe('monthly');
  });
});
