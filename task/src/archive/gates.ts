import { Transform, TransformCallback, Writable } from 'node:stream';

/*
 * The streams that stand between a stored archive and the server: they pass bytes on, and hold
 * back what would let the server commit until the caller has checked every byte.
 */

/**
 * A sink into a child's stdin that goes on accepting (and dropping) bytes once the child has
 * stopped reading. pg_restore stops at the first damaged block; the download must still run
 * to the end, so that size and SHA-256 are compared and a damaged archive is reported as an
 * integrity failure (exit 5) with every mismatch, not as a broken pipe (a storage failure).
 */
export function keepReadingSink(stdin: Writable): Writable {
  let gone = false;
  stdin.on('error', () => (gone = true));
  stdin.on('close', () => (gone = true));
  const whenWritable = (cb: () => void) => {
    const done = () => {
      stdin.off('drain', done).off('error', done).off('close', done);
      cb();
    };
    stdin.on('drain', done).on('error', done).on('close', done);
  };
  return new Writable({
    write(chunk: Buffer, _encoding, cb) {
      if (gone || stdin.destroyed || stdin.write(chunk)) cb();
      else whenWritable(() => cb());
    },
    final(cb) {
      if (gone || stdin.destroyed) cb();
      else stdin.end(() => cb());
    },
  });
}

const TRANSACTION_TIMEOUT = 'SET transaction_timeout = 0;\n';

/**
 * Checks and trims the head of pg_restore's script before psql sees any of it:
 * - its first backslash command must be `\restrict <restrictKey>`, the key this run gave
 *   pg_restore (--restrict-key), with only comments and blank lines before it. From there on psql
 *   refuses every backslash command, so none that the archive's text might carry can run;
 * - pg_restore 17+'s `SET transaction_timeout = 0;`, a setting servers before 17 lack, is left out.
 * A script that does not begin so is an error, and none of it is passed on.
 */
export function scriptPreamble(restrictKey: string): Transform {
  let head = '';
  let passing = false;
  const restrictLine = `\\restrict ${restrictKey}\n`;
  const release = (stream: Transform): Error | undefined => {
    const meta = head.search(/^\\/m);
    if (meta < 0 || !head.startsWith(restrictLine, meta) || !/^(?:(?:--[^\n]*)?\n)*$/.test(head.slice(0, meta)))
      return new Error("pg_restore's script did not begin with the \\restrict line this run asked for");
    const at = head.indexOf(`\n${TRANSACTION_TIMEOUT}`, meta);
    const out = at < 0 ? head : head.slice(0, at + 1) + head.slice(at + 1 + TRANSACTION_TIMEOUT.length);
    passing = true;
    head = '';
    stream.push(Buffer.from(out, 'latin1'));
    return undefined;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, cb) {
      if (passing) return cb(null, chunk);
      head += chunk.toString('latin1');
      if (!head.includes(`\n${TRANSACTION_TIMEOUT}`) && head.length < 64 * 1024) return cb();
      cb(release(this));
    },
    flush(cb) {
      cb(passing ? undefined : release(this));
    },
  });
}

/** pg_restore --single-transaction's last statement, and what may follow it: comments, blank lines, psql's \unrestrict. */
const FINAL_COMMIT = /(?:^|\n)COMMIT;\n((?:[ \t]*\n|--[^\n]*\n|\\unrestrict [A-Za-z0-9]+\n)*)$/;

/**
 * Passes pg_restore's --single-transaction script through without its final COMMIT, so that
 * the transaction stays open for the caller to commit. The end of the script is held back
 * until it has ended; a script that does not end with pg_restore's COMMIT (pg_restore died, or
 * wrote something this does not know) errors instead, and its end is never passed on.
 */
export class WithoutFinalCommit extends Transform {
  /** At least this much of the end is held back: more than the COMMIT and its epilogue. */
  private static readonly HOLD = 16 * 1024;
  private readonly held: Buffer[] = [];
  private heldBytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // Whole chunks are passed on once enough follows them: no copies, whatever the chunk sizes.
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    while (this.heldBytes - this.held[0].length >= WithoutFinalCommit.HOLD) {
      const out = this.held.shift()!;
      this.heldBytes -= out.length;
      this.push(out);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const tail = Buffer.concat(this.held).toString('latin1');
    const end = FINAL_COMMIT.exec(tail);
    if (!end) return callback(new Error("pg_restore's script did not end with its COMMIT"));
    callback(null, Buffer.from(tail.slice(0, end.index) + (end[0].startsWith('\n') ? '\n' : '') + end[1], 'latin1'));
  }
}

/**
 * Passes an archive on to pg_restore, all but its last `hold` bytes (of the `expectedBytes` the
 * manifest promises); bytes beyond `expectedBytes` are never passed on. pg_restore cannot finish,
 * and so cannot commit, without the end of its archive: the last data block ends with a length
 * of zero, the archive's last bytes, which pg_restore reads before anything after the data (and
 * before its COMMIT). `release()` passes the held end on and ends pg_restore's input, once the
 * caller has checked every byte; until then pg_restore waits inside its open transaction.
 */
export class HeldTail extends Writable {
  private passed = 0;
  private readonly held: Buffer[] = [];

  constructor(
    private readonly inner: Writable,
    private readonly expectedBytes: number,
    private readonly hold = 4096,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const limit = Math.max(0, this.expectedBytes - this.hold);
    const forward = Math.max(0, Math.min(chunk.length, limit - this.passed));
    const keep = Math.max(0, Math.min(chunk.length - forward, this.expectedBytes - this.passed - forward));
    if (keep > 0) this.held.push(chunk.subarray(forward, forward + keep));
    // Everything past what the manifest promises is dropped here (and counted by the digest before).
    const write = forward > 0 ? chunk.subarray(0, forward) : undefined;
    this.passed += forward + keep;
    if (!write) return callback();
    this.inner.write(write, (err) => callback(err ?? null));
  }

  override _final(callback: (error?: Error | null) => void): void {
    callback(); // pg_restore's input stays open: only release() ends it
  }

  /** Passes the held end on and ends pg_restore's input. */
  public release(): void {
    this.inner.end(Buffer.concat(this.held));
  }
}
