import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressionProblem, dumpArgs, dumpCommand, findStdbuf } from '../../../../task/src/postgres/dump';

describe('pg_dump compression', () => {
  test('a gzip level 0-9, or no setting, works with every pg_dump', () => {
    for (const compress of [undefined, '0', '1', '6', '9']) {
      expect(compressionProblem(compress, 150018)).toBeUndefined();
      expect(compressionProblem(compress, 90624)).toBeUndefined();
    }
  });

  test.each([
    ['lz4', /needs pg_dump 16 or newer.*this pg_dump is 15.*use a gzip level 0-9, or a PostgreSQL 16\+ client/],
    ['zstd:3', /needs pg_dump 16 or newer.*this pg_dump is 15/],
    // pg_dump 15 rejects the method form even for gzip ("invalid value"), after the upload has begun.
    ['gzip:1', /use the level alone \('1'\)/],
    ['gzip:level=9', /use the level alone \('9'\)/],
    ['gzip', /use the level alone \('6'\)/],
    ['none', /use '0'/],
  ])("'%s' is refused for pg_dump 15 with the fix", (compress, message) => {
    expect(compressionProblem(compress, 150018)).toMatch(message);
  });

  test('pg_dump 16 and newer take the method[:level] form', () => {
    for (const compress of ['lz4', 'zstd:3', 'gzip:1', 'none']) expect(compressionProblem(compress, 160004)).toBeUndefined();
  });

  test('the setting reaches pg_dump as --compress', () => {
    expect(dumpArgs({ compress: '1' })).toEqual(['--format=custom', '--no-password', '--compress=1']);
    expect(dumpArgs({})).toEqual(['--format=custom', '--no-password']);
  });
});

describe('how pg_dump is run', () => {
  test('under stdbuf when it is available, so that pg_dump writes 1 MiB at a time instead of 4 KiB', () => {
    expect(dumpCommand('/usr/lib/postgresql/15/bin/pg_dump', ['--format=custom'], '/usr/bin/stdbuf')).toEqual({
      program: '/usr/bin/stdbuf',
      args: ['-o', '1M', '/usr/lib/postgresql/15/bin/pg_dump', '--format=custom'],
    });
  });

  test('directly when stdbuf is not installed', () => {
    expect(dumpCommand('pg_dump', ['--format=custom'], undefined)).toEqual({ program: 'pg_dump', args: ['--format=custom'] });
  });

  test('stdbuf is found on PATH only as an executable file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stdbuf-'));
    try {
      expect(findStdbuf(dir)).toBeUndefined();
      writeFileSync(join(dir, 'stdbuf'), '#!/bin/sh\n', { mode: 0o755 });
      expect(findStdbuf(`/nonexistent:${dir}`)).toBe(join(dir, 'stdbuf'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
