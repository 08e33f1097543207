import { parseArchiveHeader } from '../../../../task/src/archive/format';

/** The first bytes of real archives: pg_dump 15 -Fc (format 1.14, zlib level as an int) and 18 (1.16, an algorithm byte). */
const pg15Default = Buffer.from('5047444d50010e000408010101000000', 'hex'); // level -1: zlib's default
const pg15Uncompressed = Buffer.from('5047444d50010e000408010000000000', 'hex'); // level 0
const pg15Level9 = Buffer.from('5047444d50010e000408010009000000', 'hex');
const pg18 = (alg: number) => Buffer.from(`5047444d500110000408010${alg}`, 'hex');

describe('parseArchiveHeader', () => {
  test('reads the format version and the compression method, before and after format 1.15', () => {
    expect(parseArchiveHeader(pg15Default)).toEqual({ version: '1.14', compression: 'gzip' });
    expect(parseArchiveHeader(pg15Uncompressed)).toEqual({ version: '1.14', compression: 'none' });
    expect(parseArchiveHeader(pg15Level9)).toEqual({ version: '1.14', compression: 'gzip' });
    expect([0, 1, 2, 3, 7].map((a) => parseArchiveHeader(pg18(a)))).toEqual([
      { version: '1.16', compression: 'none' },
      { version: '1.16', compression: 'gzip' },
      { version: '1.16', compression: 'lz4' },
      { version: '1.16', compression: 'zstd' },
      { version: '1.16', compression: 'unknown (7)' },
    ]);
  });

  test('is undefined for what is not a custom-format archive', () => {
    expect(parseArchiveHeader(Buffer.from('-- PostgreSQL database dump\n'))).toBeUndefined();
    expect(parseArchiveHeader(Buffer.from('PGDMP'))).toBeUndefined();
  });
});
