import { PropertiesReport } from '../postgres/database-properties';
import { DbConnection } from '../postgres/connection';
import { PgTools } from '../postgres/tools';
import { BackupEntry } from '../storage/catalog';
import { Manifest } from '../storage/manifest';
import { ListedObject, StorageConfig } from '../storage/s3';

/** What a restore needs to know: where the backup is, where it goes, and how. */
export interface RestoreInput {
  readonly storage: StorageConfig;
  readonly tools: PgTools;
  readonly target: DbConnection;
  /** Drop and replace the backup's objects in a target that already holds tables. */
  readonly clean: boolean;
  /** 1: one pass, one transaction, no disk. More: download first, restore in parallel into a new database. */
  readonly jobs: number;
  /** Only these tables (restore --table; a parallel backup's pieces that hold them). */
  readonly tables?: readonly { readonly schema: string; readonly name: string }[];
  /** Apply the stored roles and tablespaces first. */
  readonly globals: boolean;
  /** Where the archive is downloaded (--jobs) and work files go. @default the OS temp directory */
  readonly tempDir?: string;
  readonly noOwner: boolean;
  readonly noAcl: boolean;
  /** Apply the archive's database-level settings, ACL and comment to the target. */
  readonly databaseProperties: boolean;
  readonly progressSeconds: number;
}

/** A backup as the catalog resolved it: complete, with its manifest and dump object. */
export type ResolvedBackup = BackupEntry & { readonly manifest: Manifest; readonly dump: ListedObject };

export interface RestoreSummary {
  readonly key: string;
  readonly target: string;
  /** Tables and rows counted after the restore; absent when counting failed (the restore stands: counting is only a report). */
  readonly tables?: number;
  readonly rows?: number;
  readonly bytes: number;
  readonly durationSeconds: number;
  readonly createdDatabase: boolean;
  /** The source database's own settings, privileges and comment applied to the target, and what was skipped. */
  readonly databaseProperties?: PropertiesReport;
}
