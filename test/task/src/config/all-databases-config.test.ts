import { backupConfig } from '../../../../task/src/config/backup';
import { cliProblemsOf } from '../../../support/config-problems';

const base = { BACKUP_BUCKET: 'my-backups' };

const problemsOf = cliProblemsOf;

describe('backup --all-databases', () => {
  test('reads the list from postgres when the connection names no database', () => {
    const c = backupConfig(['--all-databases'], { ...base, PGHOST: 'db.internal' }, false);
    expect(c.allDatabases).toEqual({ exclude: [] });
    expect(c.conn.database).toBe('postgres');
  });

  test("PGDATABASE or the URL's database is where the list is read", () => {
    expect(backupConfig(['--all-databases'], { ...base, PGDATABASE: 'maint' }, false).conn.database).toBe('maint');
    const fromUrl = backupConfig(['--all-databases'], { ...base, DATABASE_URL: 'postgres://backup:pw-1234@db:5432/admin' }, false);
    expect(fromUrl.conn.database).toBe('admin');
  });

  test('the environment forms: BACKUP_ALL_DATABASES and a comma-separated BACKUP_EXCLUDE_DATABASE', () => {
    const c = backupConfig([], { ...base, BACKUP_ALL_DATABASES: '1', BACKUP_EXCLUDE_DATABASE: 'scratch_*, "Test"' }, false);
    expect(c.allDatabases).toEqual({ exclude: ['scratch_*', '"Test"'] });
    // the flags win over the variable, and are repeatable
    const flags = backupConfig(
      ['--exclude-database', 'a', '--exclude-database', 'b,c'],
      { ...base, BACKUP_ALL_DATABASES: 'true', BACKUP_EXCLUDE_DATABASE: 'x' },
      false,
    );
    expect(flags.allDatabases).toEqual({ exclude: ['a', 'b,c'] });
  });

  test('without it, a backup is of one database as before', () => {
    expect(backupConfig([], { ...base, PGDATABASE: 'app' }, false).allDatabases).toBeUndefined();
    expect(problemsOf(() => backupConfig([], base, false))).toEqual([expect.stringMatching(/^No database name/)]);
  });

  test('every conflict is reported at once: --dbname, --schema, --table, a dotted pattern, an empty quoted one', () => {
    const problems = problemsOf(() =>
      backupConfig(
        [
          '--all-databases',
          '--dbname',
          'app',
          '--schema',
          'public',
          '--table',
          't',
          '--exclude-database',
          'a.b',
          '--exclude-database',
          '""',
        ],
        base,
        false,
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^--table \/ BACKUP_TABLE cannot be combined with --schema/),
      expect.stringMatching(
        /^--dbname names one database, but --all-databases \/ BACKUP_ALL_DATABASES backs up every database\. Leave out --dbname/,
      ),
      expect.stringMatching(/^--schema \/ BACKUP_SCHEMA selects within one database/),
      expect.stringMatching(/^--table \/ BACKUP_TABLE selects within one database/),
      expect.stringMatching(/^--exclude-database 'a\.b' has a '\.' outside double quotes/),
      expect.stringMatching(/^--exclude-database '""' names no characters/),
    ]);
  });

  test('a --dbname flag conflicts with BACKUP_ALL_DATABASES too; exclusions within databases may stay', () => {
    expect(problemsOf(() => backupConfig(['--dbname', 'app'], { ...base, BACKUP_ALL_DATABASES: '1' }, false))).toEqual([
      expect.stringMatching(/^--dbname names one database/),
    ]);
    const c = backupConfig(['--all-databases', '--exclude-table-data', 'public.sessions', '--exclude-database', '"my.db"'], base, false);
    expect(c.selection).toEqual({ excludeTableData: ['public.sessions'] });
    expect(c.allDatabases).toEqual({ exclude: ['"my.db"'] });
  });

  test('--exclude-database without --all-databases is refused', () => {
    expect(problemsOf(() => backupConfig(['--exclude-database', 'x'], { ...base, PGDATABASE: 'app' }, false))).toEqual([
      '--exclude-database / BACKUP_EXCLUDE_DATABASE applies only with --all-databases / BACKUP_ALL_DATABASES: add --all-databases / BACKUP_ALL_DATABASES, or leave the patterns out.',
    ]);
  });
});
