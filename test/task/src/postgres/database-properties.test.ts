/**
 * The database's own entries of an archive, checked statement by statement before anything is
 * applied (issue 23, item 1). Entries are given as pg_dump writes them (pg_dump.c dumpDatabase,
 * dumputils.c makeAlterConfigCommand, buildACLCommands, emitShSecLabels), or crafted. Applying
 * them to a real server is tested in restore-trust.test.ts.
 */
import { readDatabaseProperties } from '../../../../task/src/postgres/database-properties';
import { checkGlobals } from '../../../../task/src/postgres/globals';
import { TaskError } from '../../../../task/src/errors';

type E = { dumpId: number; desc: string; tag: string; defn: string };
const base: E[] = [
  { dumpId: 1, desc: 'ENCODING', tag: 'ENCODING', defn: "SET client_encoding = 'UTF8';\n" },
  { dumpId: 2, desc: 'STDSTRINGS', tag: 'STDSTRINGS', defn: "SET standard_conforming_strings = 'on';\n" },
  { dumpId: 3, desc: 'DATABASE', tag: 'app', defn: 'CREATE DATABASE app WITH TEMPLATE = template0;\n' },
];
const toc = (entries: E[], extra: Partial<{ database: string }> = {}) => ({
  header: { database: extra.database ?? 'app' },
  entries: [...base, ...entries],
});
const entry = (desc: string, defn: string, dumpId = 10, tag = desc === 'DATABASE PROPERTIES' ? 'app' : 'DATABASE app'): E => ({
  dumpId,
  desc,
  tag,
  defn,
});
const aim = (entries: E[], target = '"target"', options = { noAcl: false }) =>
  readDatabaseProperties(toc(entries), options).statements.map((s) => s.render(target));

/** The refusal a statement gets: an integrity error (exit 5) naming the entry. */
function refusal(entries: E[], replaceBase = false): TaskError {
  try {
    readDatabaseProperties(replaceBase ? { header: { database: 'app' }, entries } : toc(entries), { noAcl: false });
  } catch (err) {
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).exitCode).toBe(5);
    return err as TaskError;
  }
  throw new Error('not refused');
}

describe('readDatabaseProperties: what pg_dump writes is re-aimed by replacing exactly the database name', () => {
  test('the owner-chosen comment and search_path of issue 23 stay literals, byte for byte', () => {
    const comment = "COMMENT ON DATABASE app IS 'harmless\n\\';\n";
    const searchPath =
      "ALTER DATABASE app SET search_path TO '; ALTER ROLE owner SUPERUSER; COPY (SELECT 1) TO PROGRAM $$touch /tmp/x$$; --', 'public';\n";
    expect(aim([entry('COMMENT', comment), entry('DATABASE PROPERTIES', searchPath, 11)])).toEqual([
      'COMMENT ON DATABASE "target" IS \'harmless\n\\\'',
      "ALTER DATABASE \"target\" SET search_path TO '; ALTER ROLE owner SUPERUSER; COPY (SELECT 1) TO PROGRAM $$touch /tmp/x$$; --', 'public'",
    ]);
  });

  test('every kind pg_dump writes, with names it quotes (keywords, $, mixed case, newlines)', () => {
    const db = '"a$b\nSelect"';
    const props = readDatabaseProperties(
      {
        header: { database: 'a$b\nSelect' },
        entries: [
          ...base.slice(0, 2),
          { dumpId: 3, desc: 'DATABASE', tag: 'a$b\nSelect', defn: '' },
          entry(
            'DATABASE PROPERTIES',
            `ALTER DATABASE ${db} CONNECTION LIMIT = 50;\nALTER DATABASE ${db} IS_TEMPLATE = true;\nALTER DATABASE ${db} SET "myext.setting" TO E'a\\\\b';\n` +
              `ALTER ROLE "Reader" IN DATABASE ${db} SET statement_timeout TO '5s';\n`,
            10,
            'a$b\nSelect',
          ),
          entry('COMMENT', `COMMENT ON DATABASE ${db} IS 'c';\n`, 11, `DATABASE ${db}`),
          entry('SECURITY LABEL', `SECURITY LABEL FOR selinux ON DATABASE ${db} IS 'l';\n`, 12, `DATABASE ${db}`),
          entry(
            'ACL',
            `REVOKE CONNECT,TEMPORARY ON DATABASE ${db} FROM PUBLIC;\nSET SESSION AUTHORIZATION "grantor";\nGRANT CONNECT ON DATABASE ${db} TO "Reader" WITH GRANT OPTION;\nRESET SESSION AUTHORIZATION;\n`,
            13,
            `DATABASE ${db}`,
          ),
        ],
      },
      { noAcl: false },
    );
    expect(props.statements.map((s) => s.description)).toEqual([
      'CONNECTION LIMIT 50',
      'IS_TEMPLATE true',
      'SET myext.setting',
      'role Reader: SET statement_timeout',
      'COMMENT',
      'SECURITY LABEL',
      'REVOKE CONNECT,TEMPORARY FROM PUBLIC',
      'SET SESSION AUTHORIZATION',
      'GRANT CONNECT TO Reader',
      'RESET SESSION AUTHORIZATION',
    ]);
    expect(props.statements[3].role).toBe('Reader');
    expect(props.statements.map((s) => s.render('"t"'))[8]).toBe('GRANT CONNECT ON DATABASE "t" TO "Reader" WITH GRANT OPTION');
  });

  test('--no-acl leaves the ACL out and says so; an archive without database entries has none', () => {
    const props = readDatabaseProperties(toc([entry('ACL', 'GRANT CONNECT ON DATABASE app TO r;\n')]), { noAcl: true });
    expect(props.statements).toEqual([]);
    expect(props.leftOut).toEqual(['ACL']);
    expect(readDatabaseProperties(toc([]), { noAcl: false }).statements).toEqual([]);
  });

  test('an archive whose literals read with escapes (standard_conforming_strings off) is lexed that way', () => {
    const entries = [
      { ...base[1], defn: "SET standard_conforming_strings = 'off';\n" },
      entry('COMMENT', "COMMENT ON DATABASE app IS 'it\\'s';\n"),
    ];
    const props = readDatabaseProperties({ header: { database: 'app' }, entries: [base[0], base[2], ...entries] }, { noAcl: false });
    expect(props.standardConformingStrings).toBe(false);
    expect(props.statements.map((s) => s.render('"t"'))).toEqual(["COMMENT ON DATABASE \"t\" IS 'it\\'s'"]);
  });
});

describe('readDatabaseProperties refuses, naming the entry, anything that is not exactly what its entry may hold', () => {
  test.each([
    ['a second statement after a comment', entry('COMMENT', "COMMENT ON DATABASE app IS 'x'; ALTER ROLE owner SUPERUSER;\n")],
    ['ALTER ROLE … SUPERUSER in the properties', entry('DATABASE PROPERTIES', 'ALTER ROLE owner SUPERUSER;\n')],
    ['COPY … TO PROGRAM', entry('DATABASE PROPERTIES', "COPY (SELECT 1) TO PROGRAM 'touch /tmp/x';\n")],
    ['a psql meta-command', entry('DATABASE PROPERTIES', 'ALTER DATABASE app SET x TO 1;\n\\! touch /tmp/x\n')],
    ['a statement about another database', entry('DATABASE PROPERTIES', "ALTER DATABASE other SET work_mem TO '1MB';\n")],
    ['a grant on another kind of object', entry('ACL', 'GRANT ALL ON SCHEMA public TO r;\n')],
    ['a role set instead of a role', entry('DATABASE PROPERTIES', "ALTER ROLE ALL IN DATABASE app SET work_mem TO '1MB';\n")],
    ['SET … FROM CURRENT', entry('DATABASE PROPERTIES', 'ALTER DATABASE app SET work_mem FROM CURRENT;\n')],
    ['an ownership change', entry('DATABASE PROPERTIES', 'ALTER DATABASE app OWNER TO mallory;\n')],
    ['a session authorization left set', entry('ACL', 'SET SESSION AUTHORIZATION "mallory";\nGRANT CONNECT ON DATABASE app TO r;\n')],
    ['a session authorization in a comment entry', entry('COMMENT', 'SET SESSION AUTHORIZATION "mallory";\n')],
    ['a dollar-quoted comment', entry('COMMENT', 'COMMENT ON DATABASE app IS $$x$$;\n')],
    ['an unterminated literal', entry('COMMENT', "COMMENT ON DATABASE app IS 'x;\n")],
  ])('%s', (_what, e) => {
    expect(refusal([e]).message).toMatch(/the archive's \S+( \S+)? entry 10 .*nothing (of it )?was applied.*--no-database-properties/s);
  });

  test('an archive whose ENCODING entry is not a plain SET, or names a client-only encoding', () => {
    const odd = (defn: string) =>
      refusal([{ ...base[0], defn }, base[1], base[2], entry('COMMENT', "COMMENT ON DATABASE app IS 'x';\n")], true);
    expect(odd("SET client_encoding = 'UTF8'; SELECT 1;\n").message).toMatch(/ENCODING entry is not a plain SET client_encoding/);
    expect(odd("SET client_encoding = 'SJIS';\n").message).toMatch(/'SJIS' is not a server encoding/);
  });
});

describe('checkGlobals: a stored globals file is refused before anything is applied unless every statement is of a globals dump', () => {
  const real = Buffer.from(
    [
      '--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict sncGHqpOcWY3j7md0l8fZBVL1QwnlVeJ\n\n',
      "SET default_transaction_read_only = off;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n",
      "CREATE ROLE owner;\nALTER ROLE owner WITH NOSUPERUSER INHERIT LOGIN;\nCOMMENT ON ROLE reader IS 'r; \\! not a command';\n",
      'ALTER ROLE "we""ird" WITH NOLOGIN PASSWORD \'SCRAM-SHA-256$4096:F3gQ==$L6t:dKz=\' VALID UNTIL \'2030-01-01 00:00:00+00\';\n',
      "ALTER ROLE reader SET work_mem TO '8MB';\nGRANT reader TO owner WITH INHERIT TRUE GRANTED BY postgres;\nCREATE TABLESPACE tsx OWNER postgres LOCATION '/tmp/ts';\n",
      '\n\\unrestrict sncGHqpOcWY3j7md0l8fZBVL1QwnlVeJ\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n',
    ].join(''),
  );

  test("pg_dumpall's own output passes: its statements exactly, its \\restrict pair left to this CLI's own", () => {
    const statements = checkGlobals(real, 'g.sql');
    expect(statements[0]).toBe('SET default_transaction_read_only = off;');
    expect(statements).toContain("COMMENT ON ROLE reader IS 'r; \\! not a command';");
    expect(statements.at(-1)).toBe("CREATE TABLESPACE tsx OWNER postgres LOCATION '/tmp/ts';");
    expect(statements.some((s) => s.includes('restrict'))).toBe(false);
  });

  test.each([
    ['a shell escape', 'CREATE ROLE a;\n\\! touch /tmp/x\n', /psql command "\\\\! touch/],
    ['output redirection', '\\o /tmp/x\nCREATE ROLE a;\n', /psql command "\\\\o/],
    ['\\unrestrict with another key than \\restrict', '\\restrict a\nCREATE ROLE a;\n\\unrestrict b\n', /psql command/],
    ['a command between the restrict pair and the end', '\\restrict a\nCREATE ROLE a;\n\\unrestrict a\n\\! id\n', /psql command/],
    ['COPY … TO PROGRAM', "CREATE ROLE a;\nCOPY (SELECT 1) TO PROGRAM 'id';\n", /kind pg_dumpall --globals-only does not write/],
    ['a DO block', 'DO $$ BEGIN PERFORM 1; END $$;\n', /dollar-quoted/],
    ['a setting pg_dumpall does not write', "SET session_preload_libraries = 'x';\n", /kind pg_dumpall/],
    ['a psql variable', 'CREATE ROLE :x;\n', /psql variable/],
  ])('refuses %s (exit 5)', (_what, sql, message) => {
    let err: unknown;
    try {
      checkGlobals(Buffer.from(sql), 'g.sql');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TaskError);
    expect((err as TaskError).exitCode).toBe(5);
    expect((err as TaskError).message).toMatch(/^g\.sql is not a globals dump this CLI applies: .*Nothing of it was applied\.$/s);
    expect((err as TaskError).message).toMatch(message);
  });
});
