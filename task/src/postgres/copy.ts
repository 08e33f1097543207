import { ChildProcessByStdio, spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { abandonChild, exitOf, OutputTail } from '../child';
import { DbConnection } from './connection';
import { quoteIdentifier } from './sql-lexer';
import { connectionHint, PgTools } from './tools';

/** A table whose rows a parallel backup copies itself (a piece of its own), as the catalog has it. */
export interface CopiedTable {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly owner: string;
  /** The columns COPY carries, in order: every column but dropped and generated ones (pg_dump's choice). */
  readonly columns: readonly string[];
}

/** A block range of a table's heap: rows whose ctid lies in [from, to) blocks; `to` undefined: to the end, rows added since included. */
export interface BlockRange {
  readonly from: number;
  readonly to?: number;
}

/** A running `COPY … TO STDOUT` of one table (or one block range of it), under an exported snapshot. */
export interface CopyProcess {
  /** The COPY text. Ends when psql exits, successfully or not: judge by `done`. */
  readonly stdout: Readable;
  /** Resolves when psql exited cleanly; rejects with a TaskError naming psql's exit and error otherwise. */
  readonly done: Promise<void>;
  readonly stderr: OutputTail;
  kill(): void;
}

/** The SELECT (or table) a piece copies: the listed columns, of this table only (ONLY: not its inheritance children). */
export function copyStatement(table: CopiedTable, range?: BlockRange): string {
  const name = `${quoteIdentifier(table.schema)}.${quoteIdentifier(table.name)}`;
  const columns = table.columns.map(quoteIdentifier).join(', ');
  if (!range) return `COPY ${name} (${columns}) TO STDOUT;`;
  const bounds = [
    `ctid >= '(${range.from},0)'::pg_catalog.tid`,
    ...(range.to === undefined ? [] : [`ctid < '(${range.to},0)'::pg_catalog.tid`]),
  ];
  return `COPY (SELECT ${columns} FROM ONLY ${name} WHERE ${bounds.join(' AND ')}) TO STDOUT;`;
}

/**
 * Starts psql copying a table's rows out under `snapshot`, in the given client encoding, with
 * row security off (a table it would filter fails instead of losing rows, as pg_dump does). A
 * block range reads with a TID range scan (PostgreSQL 14+), so a large table splits into pieces
 * that each read only their blocks. The script is this CLI's own; psql gets the connection
 * through its environment.
 */
export function startCopy(
  tools: PgTools,
  conn: DbConnection,
  options: { snapshot: string; encoding: string; table: CopiedTable; range?: BlockRange },
): CopyProcess {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(
    tools.psql,
    ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1'],
    {
      env: conn.childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const stderr = new OutputTail(8192);
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  child.stdin.on('error', () => undefined); // psql gone: its exit says why
  child.stdin.end(
    [
      `SET client_encoding = '${options.encoding}';`,
      'SET row_security = off;',
      'SET statement_timeout = 0;',
      'SET lock_timeout = 0;',
      'SET idle_in_transaction_session_timeout = 0;',
      'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;',
      `SET TRANSACTION SNAPSHOT '${options.snapshot}';`,
      copyStatement(options.table, options.range),
      'COMMIT;',
      '',
    ].join('\n'),
  );
  return {
    stdout: child.stdout,
    done: exitOf(child, 'psql (COPY)', stderr, 'dump', connectionHint),
    stderr,
    kill: () => abandonChild(child),
  };
}
