import { DumpSelection, StreamThreads, Tier } from '../contract';
import { DbConnection } from '../postgres/connection';
import { Globals } from '../postgres/globals';
import { PgTools } from '../postgres/tools';
import { Manifest } from '../storage/manifest';
import { StorageConfig } from '../storage/s3';

/** What a backup needs to know: the database, where it goes, and how. */
export interface BackupInput {
  readonly conn: DbConnection;
  readonly storage: StorageConfig;
  readonly tools: PgTools;
  readonly metrics: { readonly namespace: string; readonly project?: string };
  /** pg_dump -Z value; unset: zstd:1 where pg_dump can, else pg_dump's own gzip 6. */
  readonly compress?: string;
  /** What to dump; undefined for the whole database. */
  readonly selection?: DumpSelection;
  readonly partSizeMib?: number;
  readonly queueSize: number;
  readonly memoryLimitMib?: number;
  /** Also store roles and tablespaces (pg_dumpall --globals-only). */
  readonly globals: boolean;
  /**
   * With `globals`: roles and tablespaces already captured for this run (backup --all-databases
   * takes them once for every database), stored as they are instead of running pg_dumpall again.
   * @default - captured by this backup
   */
  readonly capturedGlobals?: Globals;
  readonly tier: 'auto' | Tier;
  readonly progressSeconds: number;
  /** Streams at once: 1 writes one pg_dump archive; more, a parallel backup of pieces under one snapshot. @default 1 */
  readonly jobs?: number;
  /** A parallel backup's piece size in MiB. @default planPieces' own */
  readonly pieceMib?: number;
  /** Where a parallel backup's streams run (see chooseStreamThreads). @default 'auto' */
  readonly streamThreads?: StreamThreads;
}

export interface BackupResult {
  readonly manifest: Manifest;
  readonly manifestKey: string;
}
