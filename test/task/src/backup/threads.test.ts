/**
 * PieceThread's side of the protocol with a real worker thread: a thread that dies or throws
 * fails whatever it still owed (each stream and each held completion) with an error naming it,
 * and errors cross between threads with their exit code, stage and name. The thread scripts
 * here are stand-ins for the bundled CLI: a thread that crashes is a failure no backup can be
 * made to produce on purpose. The streams themselves, on threads and inline, are tested with
 * real backups in parallel.integ.test.ts.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseStreamThreads, fromWire, PieceThread, PieceThreadData, streamLayout, toWire } from '../../../../task/src/backup/threads';
import { ExitCode, InterruptedError, TaskError } from '../../../../task/src/errors';
import { Logger } from '../../../../task/src/log';
import { UploadLedger } from '../../../../task/src/storage/upload';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'piece-thread-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

const data = { kind: 'pg-s3-backup piece thread' } as unknown as PieceThreadData;

function startThread(file: string, lines: string[] = []): PieceThread {
  const log = new Logger({ format: 'json', write: (l) => lines.push(l) });
  return new PieceThread(data, log, new UploadLedger(new S3Client({ region: 'us-east-1' })), { kind: 'worker', script: file });
}

test('a thread that exits while streaming fails the stream, naming the exit code', async () => {
  const thread = startThread(script('exits.js', "require('node:worker_threads').parentPort.on('message', () => process.exit(7));"));
  const streamed = thread.stream(0, 'db/x.piece-0000');
  await expect(streamed).rejects.toMatchObject({ message: 'A piece thread stopped (exit code 7).', exitCode: ExitCode.INTERNAL });
  await thread.close();
});

test('a thread that throws fails the stream with what it threw', async () => {
  const thread = startThread(
    script('throws.js', "require('node:worker_threads').parentPort.on('message', () => { throw new Error('boom in the thread'); });"),
  );
  await expect(thread.stream(0, 'db/x.piece-0000')).rejects.toThrow(/A piece thread failed: .*boom in the thread/);
  await thread.close();
});

test("a stream's result and its held completion arrive as the thread reports them; its log lines reach the main thread's logger", async () => {
  const lines: string[] = [];
  const thread = startThread(
    script(
      'reports.js',
      `const { parentPort } = require('node:worker_threads');
       parentPort.on('message', (m) => {
         if (m.type === 'stream') {
           parentPort.postMessage({ type: 'log', level: 'info', event: 'backup.piece', msg: 'streaming', fields: { key: m.key } });
           parentPort.postMessage({ type: 'streamed', key: m.key, bytes: 42, sha256: 'ab'.repeat(32) });
         }
         if (m.type === 'release') parentPort.postMessage({ type: 'completed', key: 'db/x.piece-0000', outcome: { etag: '"e1"' } });
       });`,
    ),
    lines,
  );
  const streamed = await thread.stream(0, 'db/x.piece-0000');
  expect(streamed).toMatchObject({ bytes: 42, sha256: 'ab'.repeat(32) });
  thread.release();
  await expect(streamed.completion).resolves.toEqual({ etag: '"e1"' });
  expect(JSON.parse(lines[0])).toMatchObject({ event: 'backup.piece', msg: 'streaming', key: 'db/x.piece-0000' });
  await thread.close();
});

test('errors cross between threads with their message, exit code, stage and name', () => {
  const interrupted = fromWire(toWire(new InterruptedError('SIGTERM', 'dump'), 'dump'));
  expect(interrupted).toBeInstanceOf(TaskError);
  expect(interrupted).toMatchObject({
    message: 'Interrupted by SIGTERM',
    exitCode: ExitCode.INTERRUPTED,
    stage: 'dump',
    name: 'InterruptedError',
  });
  const other = fromWire(toWire(new RangeError('odd'), 'upload'));
  expect(other).toMatchObject({ message: 'A piece thread failed: odd', exitCode: ExitCode.INTERNAL, stage: 'upload' });
});

test('auto puts the streams on worker threads only with at least 1.5 cores per stream; on and off decide alone', () => {
  expect(chooseStreamThreads('auto', 2, 2)).toBe(false);
  expect(chooseStreamThreads('auto', 2, 3)).toBe(true);
  expect(chooseStreamThreads(undefined, 4, 5)).toBe(false);
  expect(chooseStreamThreads(undefined, 4, 6)).toBe(true);
  expect(chooseStreamThreads('auto', 16, 16)).toBe(false);
  expect(chooseStreamThreads('on', 2, 1)).toBe(true);
  expect(chooseStreamThreads('off', 2, 64)).toBe(false);
});

test('the layout never runs more streams than pieces, nor fewer than 2, and gives each stream a thread or none', () => {
  expect(streamLayout(4, 3, 'auto', 16)).toEqual({ jobs: 3, threads: 3 });
  expect(streamLayout(4, 14, 'auto', 4)).toEqual({ jobs: 4, threads: 0 });
  expect(streamLayout(undefined, 14, 'on', 1)).toEqual({ jobs: 2, threads: 2 });
  expect(streamLayout(8, 14, 'off', 64)).toEqual({ jobs: 8, threads: 0 });
});
