import { Tier } from '../contract';
import { DumpSelection } from '../contract';

/** A backup's size in storage: its one archive, or every piece of a parallel backup. */
export function backupBytes(manifest: Pick<Manifest, 'bytes' | 'parallel'>): number {
  return manifest.parallel?.totalBytes ?? manifest.bytes;
}

/** Identifies the manifest layout; bumped on incompatible changes. */
export const MANIFEST_FORMAT = 'pg-s3-backup.manifest.v1';
/**
 * A parallel backup's manifest (backup --jobs N): v1's fields, `key`, `bytes` and `sha256`
 * describing the `.dump` object (there: the schema), plus `parallel` listing every other piece.
 * A CLI that knows only v1 refuses it as invalid, so it never mistakes the schema for a backup.
 */
export const PARALLEL_MANIFEST_FORMAT = 'pg-s3-backup.manifest.v2';

/** One piece of a parallel backup besides its schema (the `.dump`): its object, and what it holds. */
export interface PieceEntry {
  readonly key: string;
  /** `rest`: pg_dump --data-only of what no other piece holds; `table`: one table's rows, or a block range of them. */
  readonly kind: 'rest' | 'table';
  readonly bytes: number;
  readonly sha256: string;
  readonly table?: { readonly schema: string; readonly name: string };
  readonly range?: { readonly from: number; readonly to?: number };
}

/** What a parallel backup adds to its manifest. */
export interface ParallelPart {
  readonly jobs: number;
  /** The exported snapshot every piece was read under. */
  readonly snapshot: string;
  /** Every piece's bytes, the schema's included. */
  readonly totalBytes: number;
  readonly pieces: readonly PieceEntry[];
}

/**
 * Written beside a dump (`<stem>.manifest.json`) after the dump object is complete and its
 * size checked. A dump without its manifest is not a backup: `list` marks it incomplete and
 * `--latest` never chooses it.
 */
export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT | typeof PARALLEL_MANIFEST_FORMAT;
  readonly database: string;
  readonly bucket: string;
  /** Key of the dump object. */
  readonly key: string;
  readonly tier: Tier;
  /** ISO 8601 UTC. */
  readonly startedAt: string;
  /** ISO 8601 UTC, not before startedAt (checked by the catalog). */
  readonly finishedAt?: string;
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
  /** pg_dump's -Z value, or "default" (gzip level 6). Absent in manifests written before it was recorded. */
  readonly compression?: string;
  /** What was dumped when not the whole database (pg_dump's patterns); absent for a whole-database backup. */
  readonly selection?: DumpSelection;
  readonly server: { readonly version: string; readonly versionNum: number; readonly databaseSizeBytes: number };
  readonly pgDump: { readonly version: string };
  readonly globals?: { readonly key: string; readonly bytes: number; readonly sha256: string; readonly noRolePasswords: boolean };
  readonly tool: { readonly name: 'pg-s3-backup'; readonly version: string };
  /** A parallel backup's pieces (format v2 only). */
  readonly parallel?: ParallelPart;
}

const TIERS: readonly Tier[] = ['daily', 'weekly', 'monthly'];
const SELECTION_FIELDS: readonly (keyof DumpSelection)[] = ['schemas', 'excludeSchemas', 'tables', 'excludeTables', 'excludeTableData'];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

/**
 * True for an ISO 8601 UTC time as `Date.toISOString` writes it (milliseconds optional) that
 * names a real instant: '2026-02-30T00:00:00Z' is refused rather than read as 2 March.
 */
export function isIsoUtc(value: unknown): value is string {
  if (typeof value !== 'string' || !ISO_UTC.test(value)) return false;
  const date = new Date(value);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === value.slice(0, 19);
}

type Doc = Record<string, unknown>;
type Check = (value: unknown) => boolean;

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmptyString: Check = (v) => typeof v === 'string' && v.length > 0;
const isString: Check = (v) => typeof v === 'string';
const byteCount: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const hexSha256: Check = (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const nonNegative: Check = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Each field, whether it must be present, what it must be, and how a problem is worded. */
const FIELDS: ReadonlyArray<readonly [field: string, required: boolean, check: Check, expected: string]> = [
  ['database', true, nonEmptyString, 'a non-empty string'],
  ['key', true, nonEmptyString, 'a non-empty string'],
  ['tier', true, (v) => TIERS.includes(v as Tier), `one of ${TIERS.join(', ')}`],
  ['startedAt', true, isIsoUtc, 'an ISO 8601 UTC time'],
  ['bytes', true, byteCount, 'a non-negative integer'],
  ['sha256', true, hexSha256, '64 lowercase hex digits'],
  ['bucket', false, isString, 'a string'],
  ['finishedAt', false, isIsoUtc, 'an ISO 8601 UTC time'],
  ['durationSeconds', false, nonNegative, 'a non-negative number'],
  ['partSizeBytes', false, byteCount, 'a non-negative integer'],
  ['archiveFormat', false, (v) => v === 'custom', "'custom'"],
  ['compression', false, nonEmptyString, 'a non-empty string'],
  ['versionId', false, isString, 'a string'],
  ['s3Checksum', false, (v) => isObject(v) && isString(v.algorithm) && isString(v.value), '{algorithm, value} strings'],
  ['selection', false, isSelection, `an object of string lists (${SELECTION_FIELDS.join(', ')})`],
  [
    'globals',
    false,
    (v) => isObject(v) && nonEmptyString(v.key) && byteCount(v.bytes) && hexSha256(v.sha256) && typeof v.noRolePasswords === 'boolean',
    '{key, bytes, sha256, noRolePasswords}',
  ],
  ['pgDump', false, (v) => isObject(v) && isString(v.version), '{version} with a string version'],
  [
    'server',
    false,
    (v) => isObject(v) && isString(v.version) && nonNegative(v.versionNum) && nonNegative(v.databaseSizeBytes),
    '{version, versionNum, databaseSizeBytes}',
  ],
  ['tool', false, (v) => isObject(v) && isString(v.name) && isString(v.version), '{name, version} strings'],
  ['parallel', false, isParallel, '{jobs, snapshot, totalBytes, pieces: [{key, kind, bytes, sha256, table?, range?}]}'],
];

function isPiece(v: unknown): boolean {
  if (
    !isObject(v) ||
    !nonEmptyString(v.key) ||
    !['rest', 'table'].includes(v.kind as string) ||
    !byteCount(v.bytes) ||
    !hexSha256(v.sha256)
  )
    return false;
  if (v.table !== undefined && !(isObject(v.table) && isString(v.table.schema) && isString(v.table.name))) return false;
  if (v.kind === 'table' && v.table === undefined) return false;
  return v.range === undefined || (isObject(v.range) && byteCount(v.range.from) && (v.range.to === undefined || byteCount(v.range.to)));
}

function isParallel(v: unknown): boolean {
  return (
    isObject(v) &&
    Number.isSafeInteger(v.jobs) &&
    (v.jobs as number) >= 2 &&
    nonEmptyString(v.snapshot) &&
    byteCount(v.totalBytes) &&
    Array.isArray(v.pieces) &&
    v.pieces.every(isPiece)
  );
}

function isSelection(v: unknown): boolean {
  return (
    isObject(v) &&
    Object.entries(v).every(
      ([k, list]) => SELECTION_FIELDS.includes(k as keyof DumpSelection) && Array.isArray(list) && list.every((p) => typeof p === 'string'),
    )
  );
}

/** A short rendering of a received value for a message (JSON, cut at 60 characters). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Parses and checks a manifest read from the bucket, whoever wrote it: every field the tools
 * rely on must be present and of its type (a present optional field too), so that nothing
 * downstream trips over a value (a `startedAt` that is not a date once stopped `list`).
 * Throws one Error naming every problem. Whether it agrees with its key, folder and object is
 * the catalog's check.
 */
export function parseManifest(text: string, key: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`Manifest ${key} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(doc)) throw new Error(`Manifest ${key} is not a JSON object (got ${shown(doc)}).`);
  if (doc.format !== MANIFEST_FORMAT && doc.format !== PARALLEL_MANIFEST_FORMAT)
    throw new Error(`Manifest ${key} has format ${shown(doc.format)}, expected '${MANIFEST_FORMAT}' or '${PARALLEL_MANIFEST_FORMAT}'.`);
  // The parallel part belongs to v2 exactly: a v1 manifest with pieces, or a v2 without, is neither.
  const parallelRequired = doc.format === PARALLEL_MANIFEST_FORMAT;
  const missing = FIELDS.filter(([f, required]) => (required || (f === 'parallel' && parallelRequired)) && doc[f] === undefined).map(
    ([f]) => f,
  );
  const problems = missing.length > 0 ? [`lacks ${missing.join(', ')}`] : [];
  for (const [field, , check, expected] of FIELDS) {
    if (doc[field] !== undefined && !check(doc[field])) problems.push(`${field} must be ${expected}, got ${shown(doc[field])}`);
  }
  if (!parallelRequired && doc.parallel !== undefined) problems.push(`parallel is only in a '${PARALLEL_MANIFEST_FORMAT}' manifest`);
  if (problems.length > 0) throw new Error(`Manifest ${key} is invalid: ${problems.join('; ')}.`);
  return doc as unknown as Manifest;
}
