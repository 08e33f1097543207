import { ChildProcessByStdio, spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { OutputTail, spawnErrorMessage } from '../child';
import { DbConnection } from './connection';
import { ExitCode, TaskError } from '../errors';
import { connectionHint, PgTools } from './tools';

/**
 * One session that holds a snapshot for a whole parallel backup: `BEGIN ISOLATION LEVEL
 * REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot();`, kept open until every worker has
 * read under it (`SET TRANSACTION SNAPSHOT`, or `pg_dump --snapshot`), so that all pieces see the
 * database as of one instant. It also reads the plan's facts under that snapshot and takes
 * ACCESS SHARE locks on the tables the workers will copy, as pg_dump does on every table it
 * dumps, so that no one can drop or alter them before they are read.
 *
 * The session is psql reading our own SQL (nothing from a backup) from a pipe; each answer ends
 * with a marker line. Poolers in transaction mode (PgBouncer) break snapshot export: connect to
 * the server or a session-mode pool.
 */
export class SnapshotSession {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly errors = new OutputTail(8192);
  private buffered = '';
  private waiting: { marker: string; resolve: (lines: string[]) => void; reject: (err: Error) => void } | undefined;
  private closed: Promise<number | null>;
  private failure: TaskError | undefined;
  private counter = 0;

  private constructor(
    tools: PgTools,
    private readonly conn: DbConnection,
  ) {
    this.child = spawn(tools.psql, ['-X', '-q', '-A', '-t', '--no-password', '-v', 'ON_ERROR_STOP=1'], {
      env: conn.childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin.on('error', () => undefined); // psql gone: its exit says why
    this.child.stderr.on('data', (c: Buffer) => this.errors.push(c));
    this.child.stdout.on('data', (c: Buffer) => this.onOutput(c.toString('utf8')));
    this.closed = new Promise((resolve) => {
      this.child.on('error', (err: NodeJS.ErrnoException) => {
        this.fail(new TaskError(spawnErrorMessage('psql', err), { exitCode: ExitCode.DATABASE, stage: 'plan', cause: err }));
        resolve(null);
      });
      this.child.on('close', (code) => {
        const stderr = this.errors.text(10);
        this.fail(
          new TaskError(
            `The session holding the backup's snapshot ended (psql exit ${code}): ${stderr || '(no error text)'}${connectionHint(stderr)}`,
            {
              exitCode: ExitCode.DATABASE,
              stage: 'plan',
            },
          ),
        );
        resolve(code);
      });
    });
  }

  /** Opens the session and exports its snapshot; `snapshot` is the identifier workers import. */
  public static async open(tools: PgTools, conn: DbConnection): Promise<{ session: SnapshotSession; snapshot: string }> {
    const session = new SnapshotSession(tools, conn);
    const [snapshot] = await session
      .run(
        'SET statement_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\nBEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_catalog.pg_export_snapshot();',
      )
      .catch((err: unknown) => {
        throw cannotShare(err);
      });
    if (!/^[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+$/.test(snapshot ?? '')) {
      await session.close();
      throw new TaskError(`pg_export_snapshot() answered ${JSON.stringify(snapshot)}, not a snapshot identifier.`, {
        exitCode: ExitCode.DATABASE,
        stage: 'plan',
      });
    }
    return { session, snapshot: snapshot };
  }

  /** Runs SQL (our own) in the session's transaction and returns the rows it printed, one line each. */
  public run(sql: string): Promise<string[]> {
    if (this.failure) return Promise.reject(this.failure);
    const marker = `pg-s3-backup:done:${++this.counter}`;
    return new Promise<string[]>((resolve, reject) => {
      this.waiting = { marker, resolve, reject };
      this.child.stdin.write(`${sql}\nSELECT '${marker}';\n`);
    });
  }

  /** Ends the transaction (nothing was written: a commit of a read-only transaction) and the session. */
  public async close(): Promise<void> {
    this.child.stdin.end('COMMIT;\n');
    await this.closed;
  }

  /** The database this session reads. */
  public get database(): string {
    return this.conn.database;
  }

  private onOutput(text: string): void {
    this.buffered += text;
    if (!this.waiting) return;
    const end = this.buffered.indexOf(`${this.waiting.marker}\n`);
    if (end < 0) return;
    const lines = this.buffered
      .slice(0, end)
      .split('\n')
      .filter((l) => l !== '');
    this.buffered = this.buffered.slice(end + this.waiting.marker.length + 1);
    const { resolve } = this.waiting;
    this.waiting = undefined;
    resolve(lines);
  }

  private fail(err: TaskError): void {
    this.failure ??= err;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(this.failure);
  }
}

/**
 * A parallel backup needs a snapshot its workers can share; some servers cannot give one (a
 * connection pooler in transaction mode, some proxies, a standby that cannot export): say so,
 * and what to do, rather than copy without one.
 */
function cannotShare(err: unknown): TaskError {
  const cause = err instanceof Error ? err.message : String(err);
  return new TaskError(
    `A parallel backup needs a snapshot that its workers share (pg_export_snapshot()), and this server did not give one: ${cause} ` +
      'Connection poolers in transaction mode, some proxies and some standbys cannot share snapshots. Connect to the server itself (or a session-mode pool), or back up with --jobs 1.',
    { exitCode: ExitCode.DATABASE, stage: 'plan', cause: err },
  );
}
