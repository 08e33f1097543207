/**
 * WithoutFinalCommit, the part of the one-pass restore that keeps pg_restore's transaction open
 * for the caller: it must drop exactly the script's last COMMIT, however the script is cut into
 * chunks, and never pass on the end of a script that does not end with one. (The restore suites
 * prove the whole gate with real archives; this covers the chunkings a pipe may produce.)
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { HeldTail, scriptPreamble, WithoutFinalCommit } from '../../../../task/src/archive/gates';
import { Transform } from 'node:stream';

/** pg_restore --single-transaction's script shape: BEGIN, a COPY whose data has a "COMMIT;" line, the final COMMIT, its epilogue. */
function script(dataRows: number): string {
  const rows = Array.from({ length: dataRows }, (_, i) => `row ${i}`).join('\n');
  return [
    '--\n-- PostgreSQL database dump\n--\n\n\\restrict AbC123\n\nBEGIN;\n\n',
    'COPY public.lines (l) FROM stdin;\nCOMMIT;\n',
    rows,
    '\n\\.\n\n',
    'COMMIT;\n\n--\n-- Completed on 2026-12-01 12:00:00 UTC\n--\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict AbC123\n\n',
  ].join('');
}

async function run(
  text: string,
  chunkSize: number,
  through: () => Transform = () => new WithoutFinalCommit(),
): Promise<{ out: string; error?: Error }> {
  const input = Buffer.from(text, 'latin1');
  const chunks = Array.from({ length: Math.ceil(input.length / chunkSize) }, (_, i) => input.subarray(i * chunkSize, (i + 1) * chunkSize));
  const out: Buffer[] = [];
  const error = await pipeline(
    Readable.from(chunks),
    through(),
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  ).then(
    () => undefined,
    (err: Error) => err,
  );
  return { out: Buffer.concat(out).toString('latin1'), error };
}

describe('WithoutFinalCommit', () => {
  test.each([1, 7, 4096, 16 * 1024, 64 * 1024, 1 << 20])('drops only the final COMMIT, in chunks of %i bytes', async (size) => {
    for (const rows of size < 1024 ? [0, 2000] : [0, 50_000]) {
      const text = script(rows);
      const { out, error } = await run(text, size);
      expect(error).toBeUndefined();
      const at = text.lastIndexOf('COMMIT;\n');
      expect(out).toBe(text.slice(0, at) + text.slice(at + 'COMMIT;\n'.length));
      // The data line stays; the only COMMIT statement left is none.
      expect(out).toContain('FROM stdin;\nCOMMIT;\n');
      expect(out.match(/^COMMIT;$/gm)).toHaveLength(1);
    }
  });

  test.each([
    ['cut off in the data (pg_restore died)', (t: string) => t.slice(0, t.indexOf('\\.'))],
    ['cut off inside the final COMMIT', (t: string) => t.slice(0, t.lastIndexOf('COMMIT;') + 4)],
    ['something after the epilogue', (t: string) => `${t}SELECT 1;\n`],
  ])('a script %s errors, and its held-back end is never passed on', async (_what, cut) => {
    for (const size of [7, 64 * 1024]) {
      const text = cut(script(size < 1024 ? 5000 : 50_000));
      const { out, error } = await run(text, size);
      expect(error?.message).toMatch(/did not end with its COMMIT/);
      expect(out.length).toBeLessThanOrEqual(Math.max(0, text.length - 16 * 1024));
      expect(text.startsWith(out)).toBe(true);
    }
  });
});

describe('HeldTail', () => {
  /** Feeds `data` in chunks of `size` and returns what the inner stream got before and after release, and whether it had ended. */
  async function feed(data: Buffer, expected: number, size: number, hold = 4096) {
    const got: Buffer[] = [];
    let ended = false;
    const inner = new Writable({
      write(c: Buffer, _e, cb) {
        got.push(c);
        cb();
      },
      final(cb) {
        ended = true;
        cb();
      },
    });
    const tail = new HeldTail(inner, expected, hold);
    const chunks = Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));
    await pipeline(Readable.from(chunks), tail);
    const before = Buffer.concat(got);
    const endedBefore = ended;
    tail.release();
    await new Promise((r) => setImmediate(r));
    return { before, endedBefore, after: Buffer.concat(got), ended };
  }
  const data = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));

  test.each([1000, 4096, 65536, 200_000])('until release, all but the last 4 KiB, and no end of input (chunks of %i)', async (size) => {
    const r = await feed(data, data.length, size);
    expect(r.before.equals(data.subarray(0, data.length - 4096))).toBe(true);
    expect(r.endedBefore).toBe(false);
    expect(r.after.equals(data)).toBe(true);
    expect(r.ended).toBe(true);
  });

  test('bytes beyond what the manifest promises are never passed on; a shorter object is held back the same way', async () => {
    const longer = await feed(Buffer.concat([data, Buffer.from('appended')]), data.length, 7000);
    expect(longer.before.equals(data.subarray(0, data.length - 4096))).toBe(true);
    expect(longer.after.equals(data)).toBe(true);
    const shorter = await feed(data.subarray(0, 50_000), data.length, 7000);
    expect(shorter.before.length).toBe(50_000);
    expect(shorter.endedBefore).toBe(false);
  });
});

describe("scriptPreamble: psql sees nothing of a script before it is restricted with this run's key", () => {
  const KEY = 'AbC123';
  const preamble = (text: string) =>
    text.replace('BEGIN;\n', "SET statement_timeout = 0;\nSET transaction_timeout = 0;\nSET client_encoding = 'UTF8';\nBEGIN;\n");

  test.each([1, 7, 4096, 1 << 20])(
    'passes a script that begins with \\restrict <key>, without SET transaction_timeout, in chunks of %i bytes',
    async (size) => {
      const text = preamble(script(2000));
      const { out, error } = await run(text, size, () => scriptPreamble(KEY));
      expect(error).toBeUndefined();
      expect(out).toBe(text.replace('SET transaction_timeout = 0;\n', ''));
    },
  );

  test.each([
    ['no \\restrict line (pg_restore before 17.6)', (t: string) => t.replace(`\\restrict ${KEY}\n`, '')],
    ['another key', (t: string) => t.replace(`\\restrict ${KEY}`, '\\restrict Other1')],
    ['a backslash command before it', (t: string) => t.replace(`\\restrict ${KEY}`, `\\! id\n\\restrict ${KEY}`)],
    ['a statement before it', (t: string) => t.replace(`\\restrict ${KEY}`, `SELECT 1;\n\\restrict ${KEY}`)],
  ])('refuses a script with %s, and passes none of it on', async (_what, change) => {
    const { out, error } = await run(change(preamble(script(10))), 64, () => scriptPreamble(KEY));
    expect(error?.message).toMatch(/did not begin with the \\restrict line this run asked for/);
    expect(out).toBe('');
  });
});
