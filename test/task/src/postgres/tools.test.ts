import { checkVersions, majorOf, parseVersionNum } from '../../../../task/src/postgres/tools';

describe('PostgreSQL versions', () => {
  test('parses client and server version strings', () => {
    expect(parseVersionNum('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toBe(150018);
    expect(parseVersionNum('pg_dump (PostgreSQL) 18.1')).toBe(180001);
    expect(parseVersionNum('pg_dump (PostgreSQL) 9.6.24')).toBe(90624);
    expect(majorOf(150018)).toBe('15');
    expect(majorOf(90624)).toBe('9.6');
  });

  test('a pg_dump older than the server is refused with both versions and the fix', () => {
    const server = { versionNum: 170002, version: '17.2', databaseSizeBytes: 1 };
    expect(() => checkVersions(server, { text: 'pg_dump (PostgreSQL) 15.18', num: 150018 })).toThrow(
      /pg_dump 15 \(pg_dump \(PostgreSQL\) 15.18\) is older than the server \(PostgreSQL 17.2\).*postgresql-client-17.*PG_MAJOR=17/s,
    );
  });

  test('the same or a newer pg_dump is accepted, minor versions do not matter', () => {
    expect(() =>
      checkVersions({ versionNum: 150020, version: '15.20', databaseSizeBytes: 1 }, { text: '15.1', num: 150001 }),
    ).not.toThrow();
    expect(() =>
      checkVersions({ versionNum: 90624, version: '9.6.24', databaseSizeBytes: 1 }, { text: '18.1', num: 180001 }),
    ).not.toThrow();
  });
});
