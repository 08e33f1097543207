import { isMainThread, MessagePort, parentPort, threadId, workerData } from 'node:worker_threads';
import { parsePieceKey } from '../contract';
import { InterruptedError } from '../errors';
import { Level, LogFields, Logger } from '../log';
import { createS3Client, storageError } from '../storage/s3';
import { CompletionHold, refuseTakenKeys, reportUploads } from '../storage/upload';
import { describePiece } from './pieces';
import { RequestWatch } from './plan';
import { startPiece } from './sources';
import { streamIntoS3 } from './stream';
import { FromThread, fromWire, PIECE_THREAD, PieceThreadData, ToThread, toWire } from './threads';

/** True in a piece thread that the CLI's entry point must run instead of a command. */
export function isPieceThread(): boolean {
  return !isMainThread && (workerData as { kind?: string } | null)?.kind === PIECE_THREAD;
}

/** Logs through the main thread, whose logger formats, scrubs and writes every line; each line names this thread (`thread`). */
class ForwardingLogger extends Logger {
  constructor(private readonly post: (m: FromThread) => void) {
    super({ format: 'json', write: () => undefined });
  }

  override log(level: Level, event: string, msg: string, fields: LogFields): void {
    this.post({ type: 'log', level, event, msg, fields: { ...fields, thread: threadId } });
  }
}

/**
 * The piece thread's side of {@link PieceThread}: one S3 client (the checks a single backup's
 * client has, the completion hold, the upload reports), and one piece streamed at a time, as the
 * main thread asks.
 */
export function runPieceThread(data: PieceThreadData = workerData as PieceThreadData, port: MessagePort = parentPort!): void {
  const post = (m: FromThread) => port.postMessage(m);
  const { input } = data.sources;
  const log = new ForwardingLogger(post);
  const watch = new RequestWatch();
  const client = createS3Client(input.storage, watch.onFailure);
  refuseTakenKeys(client);
  const hold = new CompletionHold((key) => key === data.keys.dump || parsePieceKey(key)?.stem === data.keys.stem);
  hold.attach(client);
  reportUploads(client, (event) => post({ type: 'upload', event }));
  const stop = new AbortController();

  const streamOne = async (index: number, key: string) => {
    try {
      if (stop.signal.aborted) throw new InterruptedError(String(stop.signal.reason), 'dump');
      const piece = data.pieces[index];
      log.info('backup.piece', `Streaming ${describePiece(piece)} to ${key}`, { key, piece: describePiece(piece) });
      const streamed = await streamIntoS3({
        input,
        source: startPiece(piece, data.sources),
        client,
        watch,
        key,
        tier: data.tier,
        plan: data.parts,
        log,
        signal: stop.signal,
        hold,
      });
      post({ type: 'streamed', key, bytes: streamed.bytes, sha256: streamed.sha256 });
      streamed.completion.then(
        (outcome) => post({ type: 'completed', key, outcome }),
        (err: unknown) =>
          post({
            type: 'completion-failed',
            key,
            error: toWire(storageError(err, 'upload', 'Completing the pieces', input.storage), 'upload'),
          }),
      );
    } catch (err) {
      post({ type: 'failed', key, error: toWire(err, 'dump') });
    }
  };

  port.on('message', (m: ToThread) => {
    switch (m.type) {
      case 'stream':
        void streamOne(m.index, m.key);
        return;
      case 'stop':
        stop.abort(m.reason);
        return;
      case 'release':
        hold.release();
        return;
      case 'cancel':
        hold.cancel(fromWire(m.error));
        return;
    }
  });
}
