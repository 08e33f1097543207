/**
 * The pure checks behind the catalog: a manifest read from the bucket is parsed field by field,
 * a key's stamp must be a real minute, and a manifest must agree with the dump beside it. The
 * end-to-end cases (planted backups in a real bucket) are in catalog-trust.test.ts.
 */
import { keyFolderSegment, stampDate, timestampOf } from '../../../../task/src/contract/key';
import { agreementProblems, STAMP_SKEW_MINUTES } from '../../../../task/src/storage/catalog';
import { isIsoUtc, Manifest, MANIFEST_FORMAT, parseManifest } from '../../../../task/src/storage/manifest';

const KEY = 'p/app/202612040405.dump';
/** A manifest as backup.ts writes it (every field). */
const good = {
  format: MANIFEST_FORMAT,
  database: 'app',
  bucket: 'b',
  key: KEY,
  tier: 'daily',
  startedAt: '2026-12-04T04:05:07.123Z',
  finishedAt: '2026-12-04T04:06:00.000Z',
  durationSeconds: 52.9,
  bytes: 1234,
  sha256: 'a'.repeat(64),
  s3Checksum: { algorithm: 'SHA256', value: 'x' },
  partSizeBytes: 8388608,
  archiveFormat: 'custom',
  compression: 'zstd:1',
  selection: { schemas: ['public'] },
  server: { version: '18.1', versionNum: 180001, databaseSizeBytes: 9000 },
  pgDump: { version: 'pg_dump (PostgreSQL) 18.1' },
  globals: { key: 'p/app/202612040405.globals.sql', bytes: 10, sha256: 'b'.repeat(64), noRolePasswords: false },
  tool: { name: 'pg-s3-backup', version: '0.1.0' },
};
const parse = (changes: Record<string, unknown>) => () => parseManifest(JSON.stringify({ ...good, ...changes }), 'm.json');

describe('parseManifest', () => {
  test('accepts what a backup writes, and one without the optional fields', () => {
    expect(parseManifest(JSON.stringify(good), 'm.json')).toEqual(good);
    const { format, database, key, tier, startedAt, bytes, sha256 } = good;
    expect(() => parseManifest(JSON.stringify({ format, database, key, tier, startedAt, bytes, sha256 }), 'm.json')).not.toThrow();
  });

  test.each([
    ['startedAt not a date', { startedAt: 'yesterday' }, /startedAt must be an ISO 8601 UTC time, got "yesterday"/],
    ['startedAt not UTC', { startedAt: '2026-12-04T04:05:00+02:00' }, /startedAt must be an ISO 8601 UTC time/],
    ['startedAt on 30 February', { startedAt: '2026-02-30T00:00:00.000Z' }, /startedAt must be/],
    ['finishedAt a number', { finishedAt: 5 }, /finishedAt must be an ISO 8601 UTC time, got 5/],
    ['database empty', { database: '' }, /database must be a non-empty string/],
    ['key missing', { key: undefined }, /lacks key/],
    ['key not a string', { key: ['p/app/x.dump'] }, /key must be a non-empty string/],
    ['bytes negative', { bytes: -1 }, /bytes must be a non-negative integer, got -1/],
    ['bytes fractional', { bytes: 1.5 }, /bytes must be a non-negative integer/],
    ['bytes a string', { bytes: '1234' }, /bytes must be a non-negative integer, got "1234"/],
    ['sha256 not hex', { sha256: 'z'.repeat(64) }, /sha256 must be 64 lowercase hex digits/],
    ['tier unknown', { tier: 'hourly' }, /tier must be one of daily, weekly, monthly/],
    ['compression not a string', { compression: 6 }, /compression must be a non-empty string/],
    ['selection with an unknown field', { selection: { everything: ['x'] } }, /selection must be an object of string lists/],
    ['selection with a non-string pattern', { selection: { tables: [1] } }, /selection must be/],
    [
      'globals without its digest',
      { globals: { key: 'g', bytes: 1, noRolePasswords: true } },
      /globals must be \{key, bytes, sha256, noRolePasswords\}/,
    ],
    ['pgDump without a version', { pgDump: {} }, /pgDump must be/],
    ['archiveFormat other', { archiveFormat: 'tar' }, /archiveFormat must be 'custom'/],
  ])('refuses %s, naming the field and the value', (_what, changes, message) => {
    expect(parse(changes)).toThrow(message);
  });

  test('names every problem at once, and what is not an object or another format', () => {
    expect(parse({ bytes: -1, tier: 'x', startedAt: undefined })).toThrow(
      /^Manifest m\.json is invalid: lacks startedAt; tier must be one of daily, weekly, monthly, got "x"; bytes must be a non-negative integer, got -1\.$/,
    );
    expect(() => parseManifest('null', 'm.json')).toThrow(/is not a JSON object \(got null\)/);
    expect(() => parseManifest('{', 'm.json')).toThrow(/is not valid JSON/);
    expect(parse({ format: 'v0' })).toThrow(/has format "v0", expected 'pg-s3-backup\.manifest\.v1'/);
  });

  test('a long or multi-line value is shown escaped and cut', () => {
    expect(parse({ tier: 'x\n'.repeat(50) })).toThrow(/got "x\\nx\\n.*\.\.\.;?/);
  });
});

describe('times', () => {
  test('isIsoUtc takes what toISOString writes, with or without milliseconds, and nothing else', () => {
    expect(isIsoUtc(new Date().toISOString())).toBe(true);
    expect(isIsoUtc('2026-12-04T04:05:07Z')).toBe(true);
    for (const bad of [
      '2026-12-04',
      '2026-12-04T04:05:07',
      '2026-13-01T00:00:00Z',
      '2026-12-04T24:00:00Z',
      '+275760-09-13T00:00:00.000Z',
      17,
    ])
      expect(isIsoUtc(bad)).toBe(false);
  });

  test('stampDate gives the minute of a real stamp and undefined for one that names none', () => {
    expect(stampDate('202612040405')).toEqual(new Date('2026-12-04T04:05:00Z'));
    expect(stampDate('999912312359')).toEqual(new Date('9999-12-31T23:59:00Z'));
    for (const bad of ['202602301200', '202613010000', '202612042400', '202612040460', '009912312359', '20261204040', 'abcdefghijkl'])
      expect({ bad, date: stampDate(bad) }).toEqual({ bad, date: undefined });
    const now = new Date();
    expect(stampDate(timestampOf(now))!.getTime()).toBe(Math.floor(now.getTime() / 60_000) * 60_000);
  });

  test('keyFolderSegment is the folder a key sits in', () => {
    expect(keyFolderSegment('p/q/app/202612040405.dump')).toBe('app');
    expect(keyFolderSegment('a%2Fb/202612040405.dump')).toBe('a%2Fb');
    expect(keyFolderSegment('202612040405.dump')).toBe('');
  });
});

describe('agreementProblems', () => {
  const parsed = { stem: 'p/app/202612040405', stamp: '202612040405', sequence: 1, kind: 'dump' as const };
  const stored = new Date('2026-12-04T04:20:00Z');
  const dump = { key: KEY, size: 1234, lastModified: stored };
  const manifest = good as unknown as Manifest;
  const check = (m: Partial<Manifest>, d: Partial<typeof dump> = {}, database?: string) =>
    agreementProblems(parsed, { ...dump, ...d }, { ...manifest, ...m }, database).map((p) => [p.check, p.status]);

  test('none for a manifest that agrees with its dump, key, folder and time', () => {
    expect(check({})).toEqual([]);
    expect(check({}, {}, 'app')).toEqual([]);
  });

  test('a stamp later than S3 LastModified plus the skew is an invalid time; within the skew it is not', () => {
    const justStored = (minutes: number) => ({ lastModified: new Date(new Date('2026-12-04T04:05:00Z').getTime() - minutes * 60_000) });
    expect(check({}, justStored(STAMP_SKEW_MINUTES))).toEqual([]);
    expect(check({}, justStored(STAMP_SKEW_MINUTES + 1))).toEqual([['time', 'invalid time']]);
    expect(check({}, { lastModified: undefined })).toEqual([['time', 'invalid time']]);
  });

  test('startedAt outside the key minute, and finishedAt before startedAt, are invalid times', () => {
    expect(check({ startedAt: '2026-12-04T04:06:00.000Z' })).toEqual([['time', 'invalid time']]);
    expect(check({ finishedAt: '2026-12-04T04:05:00.000Z' })).toEqual([['time', 'invalid time']]);
  });

  test('another key, globals key or database, and another size, each give their status', () => {
    expect(check({ key: 'p/app/202612040405-2.dump' })).toEqual([['key', 'wrong key']]);
    expect(check({ globals: { ...good.globals, key: 'p/other/202612040405.globals.sql' } })).toEqual([['globals key', 'wrong key']]);
    expect(check({ database: 'billing' })).toEqual([['database', 'wrong database']]);
    // In its folder, but not the database the folder was listed for.
    expect(check({}, {}, 'billing')).toEqual([['database', 'wrong database']]);
    expect(check({ bytes: 1 })).toEqual([['size', 'size mismatch']]);
  });

  test('a percent-encoded folder matches the database it encodes', () => {
    const odd = { stem: 'p/a%2Fb/202612040405', stamp: '202612040405', sequence: 1, kind: 'dump' as const };
    const at = { key: 'p/a%2Fb/202612040405.dump', size: 1234, lastModified: stored };
    const m = { ...manifest, database: 'a/b', key: at.key, globals: undefined };
    expect(agreementProblems(odd, at, m, 'a/b')).toEqual([]);
    expect(agreementProblems(odd, at, { ...m, database: 'a%2Fb' }).map((p) => p.status)).toEqual(['wrong database']);
  });
});
