import { lexSql, splitStatements, SqlLexError } from '../../../../task/src/postgres/sql-lexer';

const std = { standardConformingStrings: true };
const kinds = (sql: string, options = std) => lexSql(sql, options).map((t) => [t.kind, t.value]);

describe('lexSql: token boundaries as the server draws them', () => {
  test('words fold to lower case, quoted identifiers keep case and undo ""', () => {
    expect(kinds('ALTER DATABASE "My ""db""" SET x')).toEqual([
      ['word', 'alter'],
      ['word', 'database'],
      ['quoted', 'My "db"'],
      ['word', 'set'],
      ['word', 'x'],
    ]);
  });

  test('with standard_conforming_strings on, a backslash in a literal is an ordinary character: the literal ends at the next lone quote', () => {
    // The payload of issue 23: a comment whose text ends in a backslash on a line of its own.
    const sql = "COMMENT ON DATABASE db IS 'harmless\n\\';\nALTER ROLE owner SUPERUSER;";
    const tokens = lexSql(sql, std);
    expect(tokens[5]).toMatchObject({ kind: 'string', value: 'harmless\n\\' });
    expect(splitStatements(sql, tokens).map((s) => s.text)).toEqual([
      "COMMENT ON DATABASE db IS 'harmless\n\\'",
      'ALTER ROLE owner SUPERUSER',
    ]);
  });

  test("E'…' literals, and '…' with standard_conforming_strings off, take backslash escapes", () => {
    expect(kinds("E'a\\'b\\\\c\\n\\x41\\101'")).toEqual([['string', "a'b\\c\nAA"]]);
    expect(kinds("'it\\'s'", { standardConformingStrings: false })).toEqual([['string', "it's"]]);
    // The same text with them on: the literal is 'it\' and what follows is not SQL this lexer accepts.
    expect(() => lexSql("'it\\'s'", std)).toThrow(SqlLexError);
  });

  test('doubled quotes, semicolons and comment markers inside literals are content', () => {
    const sql = "COMMENT ON DATABASE x IS 'a''b; -- /* c';";
    expect(splitStatements(sql, lexSql(sql, std))).toHaveLength(1);
    expect(lexSql(sql, std)[5].value).toBe("a'b; -- /* c");
  });

  test('comments (nested block comments too) are skipped and stay in the statement text', () => {
    const sql = 'SET /* a /* nested */ b */ x -- tail\n= 1;';
    expect(kinds(sql)).toEqual([
      ['word', 'set'],
      ['word', 'x'],
      ['symbol', '='],
      ['number', '1'],
      ['symbol', ';'],
    ]);
    expect(splitStatements(sql, lexSql(sql, std))[0].text).toBe('SET /* a /* nested */ b */ x -- tail\n= 1');
  });

  test.each([
    ['a dollar-quoted string', 'SELECT $$x$$'],
    ['a positional parameter', 'SELECT $1'],
    ['a Unicode-escape literal', "SELECT U&'x'"],
    ['a bit string', "SELECT B'01'"],
    ['a literal continued on the next line', "SELECT 'a'\n'b'"],
    ['a literal continued after a comment line', "SELECT 'a'\n-- c\n 'b'"],
    ['an unterminated literal', "SELECT 'a"],
    ['an unterminated quoted identifier', 'SELECT "a'],
    ['an unterminated comment', 'SELECT /* a'],
    ['a NUL byte', 'SELECT 1\0'],
    ['a backslash outside a literal (server mode)', 'SELECT 1 \\g'],
    ['a zero-length quoted identifier', 'SELECT ""'],
    ['a number with trailing junk', 'SELECT 1abc'],
    ['a Unicode escape in an E string', "SELECT E'\\u0041'"],
  ])('refuses %s', (_what, sql) => {
    expect(() => lexSql(sql, std)).toThrow(SqlLexError);
  });
});

describe('lexSql in psql mode', () => {
  const psql = { standardConformingStrings: true, psql: true };

  test('a backslash outside literals is a meta-command to the end of its line; inside a literal it is not', () => {
    const sql = "SELECT '\\! not a command';\n\\! touch /tmp/x\nSELECT 1;";
    const statements = splitStatements(sql, lexSql(sql, psql));
    expect(statements.map((s) => [s.tokens[0].kind, s.text])).toEqual([
      ['word', "SELECT '\\! not a command'"],
      ['meta', '\\! touch /tmp/x'],
      ['word', 'SELECT 1'],
    ]);
  });

  test('refuses psql variable references, but not type casts', () => {
    expect(() => lexSql('SELECT :foo;', psql)).toThrow(/psql variable/);
    expect(() => lexSql("SELECT :'foo';", psql)).toThrow(/psql variable/);
    expect(() => lexSql('SELECT :"foo";', psql)).toThrow(/psql variable/);
    expect(kinds("SELECT 'x'::text;", psql).map(([k]) => k)).toEqual(['word', 'string', 'symbol', 'symbol', 'word', 'symbol']);
  });
});

describe('splitStatements', () => {
  test('splits at semicolons outside parentheses and keeps each statement exactly as written', () => {
    const sql = 'CREATE ROLE a;\n\nALTER ROLE a WITH (x; y);ALTER ROLE b';
    expect(splitStatements(sql, lexSql(sql, std)).map((s) => s.text)).toEqual([
      'CREATE ROLE a',
      'ALTER ROLE a WITH (x; y)',
      'ALTER ROLE b',
    ]);
  });
});
