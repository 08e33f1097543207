import { TaskError } from '../../../../task/src/errors';
import { BASELINE_MIB, MAX_PART_BYTES, MAX_PARTS, MIB, planParts } from '../../../../task/src/storage/part-size';
import { THREAD_BASELINE_MIB } from '../../../../task/src/contract';

const GB = 1e9;
const TIB = 1024 ** 4;

describe('part sizing', () => {
  test.each([
    ['1 GB', 1 * GB],
    ['100 GB', 100 * GB],
    ['5 TB', 5e12],
  ])('a %s database fits in 10,000 parts with headroom', (_, size) => {
    const plan = planParts({ databaseSizeBytes: size, queueSize: 4 });
    expect(plan.partSizeBytes % MIB).toBe(0);
    expect(plan.partSizeBytes).toBeGreaterThanOrEqual(8 * MIB);
    expect(plan.partSizeBytes).toBeLessThanOrEqual(MAX_PART_BYTES);
    expect(Math.ceil((size * 1.2) / plan.partSizeBytes)).toBeLessThanOrEqual(MAX_PARTS);
    expect(plan.capacityBytes).toBeGreaterThanOrEqual(size * 1.2);
    expect(plan.bufferBytes).toBe(6 * plan.partSizeBytes);
  });

  test('small databases use 8 MiB parts, not lib-storage’s 5 MiB that cap a stream at 48.8 GiB', () => {
    expect(planParts({ databaseSizeBytes: 1 * GB, queueSize: 4 }).partSizeBytes).toBe(8 * MIB);
    expect(planParts({ databaseSizeBytes: 100 * GB, queueSize: 4 }).partSizeBytes).toBe(12 * MIB);
  });

  test('a 48 TiB database cannot fit in one S3 object and is refused up front', () => {
    expect(() => planParts({ databaseSizeBytes: 48 * TIB, queueSize: 4 })).toThrow(
      /exceed S3's largest object.*back up its schemas or tables separately/s,
    );
    try {
      planParts({ databaseSizeBytes: 48 * TIB, queueSize: 4 });
    } catch (err) {
      expect((err as TaskError).exitCode).toBe(2);
    }
  });

  test('memory: the queue shrinks to fit the limit, and an impossible limit is refused with the numbers', () => {
    // 5 TB -> 600 MiB parts; 6 buffers need 3.6 GiB.
    const fits = planParts({ databaseSizeBytes: 5e12, queueSize: 4, memoryLimitMib: 4096 });
    expect(fits.queueSize).toBe(4);
    expect(fits.bufferBytes / MIB + BASELINE_MIB).toBeLessThanOrEqual(4096);

    const reduced = planParts({ databaseSizeBytes: 5e12, queueSize: 4, memoryLimitMib: 2048 });
    expect(reduced.queueSize).toBe(1);
    expect(reduced.bufferBytes / MIB + BASELINE_MIB).toBeLessThanOrEqual(2048);
    expect(reduced.notes[0]).toMatch(/lowered from 4 to 1/);

    expect(() => planParts({ databaseSizeBytes: 5e12, queueSize: 4, memoryLimitMib: 1024 })).toThrow(
      /need at least \d+ MiB of memory.*memory limit is 1024 MiB/s,
    );
  });

  test('a parallel backup: every stream has its buffers, held pieces add theirs, and a limit they cannot fit is refused up front', () => {
    // 1.5 GB -> 8 MiB parts: one stream needs 6 buffers (48 MiB); 4 streams 24, plus 3 held parts.
    const one = planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 2048 });
    const four = planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 2048, streams: 4, heldParts: 3 });
    expect(four.bufferBytes).toBe(one.bufferBytes * 4 + 3 * 8 * MIB);
    // 4 streams at the smallest queue need 4 x 3 + 3 = 15 buffers of 8 MiB + the baseline: 216 MiB.
    expect(() => planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 200, streams: 4, heldParts: 3 })).toThrow(
      /need at least 216 MiB of memory \(15 part buffers: 4 streams x 3 \+ 3 held.*or --jobs/s,
    );
    const squeezed = planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 300, streams: 4, heldParts: 3 });
    expect(squeezed.bufferBytes / MIB + BASELINE_MIB).toBeLessThanOrEqual(300);
  });

  test('worker threads count: each adds its own baseline, and a limit that fits the buffers but not the threads is refused', () => {
    // 4 streams at the smallest queue: 216 MiB inline (above); on 4 threads, 4 x 48 MiB more.
    expect(() =>
      planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 300, streams: 4, heldParts: 3, threads: 4 }),
    ).toThrow(
      /need at least 408 MiB of memory \(15 part buffers: 4 streams x 3 \+ 3 held \+ 96 MiB \+ 4 worker threads x 48 MiB\).*or set --stream-threads off/s,
    );
    const inline = planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 420, streams: 4, heldParts: 3 });
    const threaded = planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 420, streams: 4, heldParts: 3, threads: 4 });
    // Inline, 420 MiB holds the full queue of 4 (27 buffers = 216 + 96); on threads it is lowered to fit.
    expect(inline.queueSize).toBe(4);
    expect(threaded.queueSize).toBeLessThan(4);
    expect(threaded.bufferBytes / MIB + BASELINE_MIB + 4 * THREAD_BASELINE_MIB).toBeLessThanOrEqual(420);
  });

  test('default settings on a 1.5 GB database stay far below 200 MB of buffers', () => {
    const plan = planParts({ databaseSizeBytes: 1.5 * GB, queueSize: 4, memoryLimitMib: 2048 });
    expect(plan.bufferBytes).toBe(48 * MIB);
  });

  test('an explicit part size too small for the database is refused with the minimum', () => {
    expect(() => planParts({ databaseSizeBytes: 100 * GB, partSizeMib: 5, queueSize: 4 })).toThrow(
      /--part-size-mib 5 caps a backup at .*Set --part-size-mib to at least 12/s,
    );
    expect(planParts({ databaseSizeBytes: 1 * GB, partSizeMib: 64, queueSize: 4 }).partSizeBytes).toBe(64 * MIB);
  });

  describe.each([
    ['1 GB', 1 * GB],
    ['100 GB', 100 * GB],
    ['5 TB', 5e12],
    ['48 TiB', 48 * TIB],
  ])('a %s database', (_, size) => {
    // 1792 MiB is what the construct's default 2048 MiB task gives the upload (256 MiB kept for pg_dump).
    test.each([[512], [1792], [8192], [65536]])(
      'with a %i MiB memory limit: at most 10,000 parts in the limit, or refused up front',
      (limit) => {
        let plan;
        try {
          plan = planParts({ databaseSizeBytes: size, queueSize: 4, memoryLimitMib: limit });
        } catch (err) {
          // A refusal happens in planning, before anything is dumped or uploaded, and says what to change.
          expect(err).toBeInstanceOf(TaskError);
          expect(err).toMatchObject({ exitCode: 2, stage: 'plan' });
          expect((err as Error).message).toMatch(/Give the task at least \d+ MiB|back up its schemas or tables separately/);
          return;
        }
        expect(Math.ceil((size * 1.2) / plan.partSizeBytes)).toBeLessThanOrEqual(MAX_PARTS);
        expect(plan.bufferBytes / MIB + BASELINE_MIB).toBeLessThanOrEqual(limit);
      },
    );
  });

  test('which of them the default task size takes: up to 100 GB at full speed; 5 TB needs a bigger task; 48 TiB never fits one object', () => {
    const limit = 1792;
    expect(planParts({ databaseSizeBytes: 1 * GB, queueSize: 4, memoryLimitMib: limit }).queueSize).toBe(4);
    expect(planParts({ databaseSizeBytes: 100 * GB, queueSize: 4, memoryLimitMib: limit }).queueSize).toBe(4);
    expect(() => planParts({ databaseSizeBytes: 5e12, queueSize: 4, memoryLimitMib: limit })).toThrow(/Give the task at least 1815 MiB/);
    expect(() => planParts({ databaseSizeBytes: 48 * TIB, queueSize: 4, memoryLimitMib: 65536 })).toThrow(/exceed S3's largest object/);
  });

  test('48 TiB is refused with the largest explicit part size too, without advice that cannot work', () => {
    expect(() => planParts({ databaseSizeBytes: 48 * TIB, partSizeMib: 5120, queueSize: 1 })).toThrow(
      /No part size fits it in one S3 object.*back up its schemas or tables separately/s,
    );
    expect(() => planParts({ databaseSizeBytes: 48 * TIB, queueSize: 4 })).not.toThrow(/--part-size-mib 5120/);
  });
});
