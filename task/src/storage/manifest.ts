import { Tier } from '../contract';
import { DumpSelection } from '../postgres/selection';

/** Identifies the manifest layout; bumped on incompatible changes. */
export const MANIFEST_FORMAT = 'pg-s3-backup.manifest.v1';

/**
 * Written beside a dump (`<stem>.manifest.json`) after the dump object is complete and its
 * size checked. A dump without its manifest is not a backup: `list` marks it incomplete and
 * `--latest` never chooses it.
 */
export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly database: string;
  readonly bucket: string;
  /** Key of the dump object. */
  readonly key: string;
  readonly tier: Tier;
  /** ISO 8601 UTC. */
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  /** Size of the archive in bytes, as read from pg_dump and as stored. */
  readonly bytes: number;
  /** Hex SHA-256 of exactly the stored bytes. */
  readonly sha256: string;
  /** The store's own additional checksum, when it reported one. */
  readonly s3Checksum?: { readonly algorithm: string; readonly value: string };
  readonly versionId?: string;
  readonly partSizeBytes: number;
  /** Always 'custom' (pg_dump -Fc). */
  readonly archiveFormat: 'custom';
  /** pg_dump's -Z value, or "default" (gzip level 6). */
  readonly compression: string;
  /** What was dumped when not the whole database (pg_dump's patterns); absent for a whole-database backup. */
  readonly selection?: DumpSelection;
  readonly server: { readonly version: string; readonly versionNum: number; readonly databaseSizeBytes: number };
  readonly pgDump: { readonly version: string };
  readonly globals?: { readonly key: string; readonly bytes: number; readonly sha256: string; readonly noRolePasswords: boolean };
  readonly tool: { readonly name: 'pg-s3-backup'; readonly version: string };
}

/** Parses and checks a manifest; throws an Error naming what is wrong. */
export function parseManifest(text: string, key: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`Manifest ${key} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const m = doc as Partial<Manifest>;
  const missing = (['database', 'key', 'bytes', 'sha256', 'startedAt'] as const).filter((f) => m[f] === undefined);
  if (m.format !== MANIFEST_FORMAT) throw new Error(`Manifest ${key} has format '${String(m.format)}', expected '${MANIFEST_FORMAT}'.`);
  if (missing.length > 0) throw new Error(`Manifest ${key} lacks ${missing.join(', ')}.`);
  if (typeof m.bytes !== 'number' || !/^[0-9a-f]{64}$/.test(String(m.sha256)))
    throw new Error(`Manifest ${key} has an invalid bytes or sha256 field.`);
  return m as Manifest;
}
