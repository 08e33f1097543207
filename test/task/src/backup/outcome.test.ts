import { failed, lastLine, renderOutcomes } from '../../../../task/src/backup/outcome';
import { EXIT_CODES, EXIT_CODE_SEVERITY, ExitCode, worstExitCode } from '../../../../task/src/contract';
import { TaskError } from '../../../../task/src/errors';

describe("a run's exit code is the worst of its databases'", () => {
  test('interrupted, then internal, integrity, storage, local disk, database, configuration', () => {
    expect(worstExitCode([])).toBe(ExitCode.OK);
    expect(worstExitCode([ExitCode.OK, ExitCode.OK])).toBe(ExitCode.OK);
    expect(worstExitCode([ExitCode.OK, ExitCode.DATABASE, ExitCode.OK])).toBe(ExitCode.DATABASE);
    expect(worstExitCode([ExitCode.CONFIG, ExitCode.DATABASE])).toBe(ExitCode.DATABASE);
    expect(worstExitCode([ExitCode.DATABASE, ExitCode.STORAGE, ExitCode.LOCAL_DISK])).toBe(ExitCode.STORAGE);
    expect(worstExitCode([ExitCode.STORAGE, ExitCode.INTEGRITY])).toBe(ExitCode.INTEGRITY);
    expect(worstExitCode([ExitCode.INTEGRITY, ExitCode.INTERNAL])).toBe(ExitCode.INTERNAL);
    expect(worstExitCode([ExitCode.INTERNAL, ExitCode.INTERRUPTED, ExitCode.OK])).toBe(ExitCode.INTERRUPTED);
  });

  test('the order names every exit code once', () => {
    expect([...EXIT_CODE_SEVERITY].sort((a, b) => a - b)).toEqual(EXIT_CODES.map((e) => e.code).sort((a, b) => a - b));
  });
});

describe('an outcome of a failed backup', () => {
  test("names the exit code's word, the stage, and the line that says what went wrong", () => {
    const err = new TaskError(
      'pg_dump exited with code 1: pg_dump: error: query failed: ERROR:  permission denied for table t\npg_dump: detail: Query was: LOCK TABLE public.t IN ACCESS SHARE MODE\n',
      { exitCode: ExitCode.DATABASE, stage: 'dump' },
    );
    expect(failed('vault', err, 1.5)).toEqual({
      status: 'failed',
      database: 'vault',
      exitCode: 3,
      exitWord: 'database',
      stage: 'dump',
      cause: 'pg_dump exited with code 1: pg_dump: error: query failed: ERROR:  permission denied for table t',
      durationSeconds: 1.5,
      finishedAt: expect.any(Date),
    });
  });

  test('without an error line, the last non-empty line', () => {
    expect(lastLine('Uploading part 3 failed\n  after 6 attempts: SlowDown\n\n')).toBe('after 6 attempts: SlowDown');
    expect(lastLine('one line')).toBe('one line');
  });

  test('the summary rows name each database and its result', () => {
    const text = renderOutcomes([
      {
        status: 'success',
        database: 'orders',
        exitCode: 0,
        exitWord: 'success',
        durationSeconds: 2,
        finishedAt: new Date('2026-01-01T04:00:02Z'),
        key: 'p/orders/202601010400.dump',
        manifestKey: 'm',
        bytes: 2048,
      },
      failed('vault', new TaskError('no way', { exitCode: ExitCode.STORAGE, stage: 'upload' }), 1),
    ]);
    expect(text.split('\n')).toEqual([
      'DATABASE  RESULT                   DETAIL',
      'orders    ok                       2.0 KiB in 2 s: p/orders/202601010400.dump',
      'vault     FAILED (exit 4 storage)  during upload: no way',
    ]);
  });
});
