import { databasePatternProblem, databasePatternRegex } from '../../../../task/src/postgres/databases';

describe('database name patterns, by the rules of pg_dumpall --exclude-database', () => {
  test.each([
    ['app', '^(app)$'],
    // unquoted: * and ? are wildcards, ASCII upper case is folded
    ['Scratch_*', '^(scratch_.*)$'],
    ['db?', '^(db.)$'],
    // other regular-expression characters keep their meaning outside quotes, but [] and $ are literal
    ['(a|b)[0-9]', '^((a|b)[0-9])$'],
    ['a[]', '^(a\\[])$'],
    ['pay$', '^(pay\\$)$'],
    // quoted: exact, case kept, every special character literal, "" is a quote
    ['"MyApp*"', '^(MyApp\\*)$'],
    ['"my.db"', '^(my\\.db)$'],
    ['"say ""hi"""', '^(say "hi")$'],
    ['"A"b*', '^(Ab.*)$'],
    // non-ASCII letters are not folded (libpq folds ASCII only in a UTF-8 client encoding)
    ['Émile', '^(Émile)$'],
  ])('%s is %s', (pattern, regex) => {
    expect(databasePatternRegex(pattern)).toBe(regex);
  });

  test('an unquoted dot and a pattern of no characters are problems, a quoted dot is not', () => {
    expect(databasePatternProblem('a.b', '--exclude-database')).toMatch(/has a '\.' outside double quotes/);
    expect(databasePatternProblem('""', 'BACKUP_EXCLUDE_DATABASE')).toMatch(/^BACKUP_EXCLUDE_DATABASE '""' names no characters/);
    expect(databasePatternProblem('"a.b"', '--exclude-database')).toBeUndefined();
    expect(databasePatternProblem('app_*', '--exclude-database')).toBeUndefined();
  });
});
