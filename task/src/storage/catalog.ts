import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { ExitCode, TaskError } from '../errors';
import {
  compareStems,
  databaseFolder,
  databaseSegment,
  keyFolderSegment,
  keysFor,
  parseBackupKey,
  ParsedKey,
  parsePieceKey,
  stampDate,
  Tier,
  timestampOf,
} from '../contract';
import { Manifest, parseManifest } from './manifest';
import { listObjects, ListedObject, StorageConfig, storageError } from './s3';

/**
 * What a backup found in the bucket is. `complete`: a dump and a manifest that parses and agrees
 * with it. `no manifest` and `no dump` are unfinished attempts (a run that failed, or a dump
 * still uploading). The others are invalid, tampered with or corrupt (see {@link INVALID_STATUSES}).
 */
export type BackupStatus =
  'complete' | 'no manifest' | 'no dump' | 'invalid manifest' | 'wrong key' | 'wrong database' | 'invalid time' | 'size mismatch';

/**
 * The statuses of a backup that has a manifest and a dump that do not agree, or a manifest that
 * is not one: something wrote or changed objects that a backup run does not write. `list` and
 * `status` exit 5 (integrity) when they find one; `--latest` never chooses one.
 */
export const INVALID_STATUSES: ReadonlySet<BackupStatus> = new Set<BackupStatus>([
  'invalid manifest',
  'wrong key',
  'wrong database',
  'invalid time',
  'size mismatch',
]);

/**
 * How far a key's stamp may be later than the dump object's S3 LastModified, in minutes. The
 * stamp is the minute the run started, so it precedes the upload (S3 dates a multipart object
 * by its upload's start, at the earliest); this margin covers only the task's clock running
 * ahead of S3's. A key stamped further ahead claims a start no run could have had: a planted
 * `999912312359.dump` cannot pin `--latest` or keep `status` fresh.
 */
export const STAMP_SKEW_MINUTES = 10;

/** One backup as found in the bucket. */
export interface BackupEntry {
  readonly stem: string;
  readonly dumpKey: string;
  readonly parsed: ParsedKey;
  readonly dump?: ListedObject;
  readonly manifestObject?: ListedObject;
  readonly globals?: ListedObject;
  /** The pieces of a parallel backup found beside it (the manifest says which belong). */
  readonly pieces?: readonly ListedObject[];
  /** The manifest when it parsed (also for an invalid backup: what it claims). */
  readonly manifest?: Manifest;
  readonly status: BackupStatus;
  /** For a backup that is not complete: every reason, for people (undefined when complete). */
  readonly problem?: string;
  /** Start time: from the manifest, else from the key's stamp. */
  readonly startedAt: Date;
  readonly tier?: Tier;
}

const MANIFEST_READS_AT_ONCE = 8;

/** Reads a small object fully as text. */
export async function readText(client: S3Client, bucket: string, key: string): Promise<string> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body!.transformToString('utf8');
}

/** The stamp's minute for display, even when it is not a real one (30 February shows as 2 March). */
function displayDate(stamp: string): Date {
  const [y, mo, d, h, mi] = [0, 4, 6, 8, 10].map((i, n) => Number(stamp.slice(i, n === 0 ? 4 : i + 2)));
  return new Date(Date.UTC(y, mo - 1, d, h, mi));
}

const minute = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Problems with a key's stamp as a time: a real minute, not after the dump was stored (plus the skew). */
export function stampProblems(stamp: string, dump: ListedObject): string[] {
  const at = stampDate(stamp);
  if (!at) return [`its key's stamp ${stamp} is not a real UTC minute`];
  if (!dump.lastModified) return [`the store gave no LastModified for the dump, so its stamp ${stamp} cannot be checked`];
  if (at.getTime() > dump.lastModified.getTime() + STAMP_SKEW_MINUTES * 60_000) {
    return [
      `its key's stamp ${stamp} (${minute(at)}) is later than the dump's S3 LastModified (${dump.lastModified.toISOString()}) ` +
        `plus ${STAMP_SKEW_MINUTES} minutes: no backup is stamped after it was stored`,
    ];
  }
  return [];
}

/** Problems with the manifest's times: startedAt in the key's minute, finishedAt not before it. */
function manifestTimeProblems(stamp: string, manifest: Manifest): string[] {
  const problems: string[] = [];
  const started = new Date(manifest.startedAt);
  if (timestampOf(started) !== stamp) problems.push(`its manifest's startedAt ${manifest.startedAt} is not in the key's minute ${stamp}`);
  if (manifest.finishedAt !== undefined && new Date(manifest.finishedAt).getTime() < started.getTime())
    problems.push(`its manifest's finishedAt ${manifest.finishedAt} is before its startedAt ${manifest.startedAt}`);
  return problems;
}

/** One disagreement between a manifest and its dump: which check, the status it gives, and why. */
export interface Disagreement {
  readonly check: 'key' | 'globals key' | 'database' | 'time' | 'size' | 'pieces';
  readonly status: BackupStatus;
  readonly problem: string;
}

/**
 * Whether a parsed manifest agrees with the dump it sits beside: it names that key (and that
 * stem's globals file), the database of the folder (and `database`, the one asked for, when
 * given), a time the key's stamp and S3 confirm, and the stored size. Every disagreement, in
 * order of precedence; none for a complete backup.
 */
export function agreementProblems(
  parsed: ParsedKey,
  dump: ListedObject,
  manifest: Manifest,
  database?: string,
  pieces: readonly ListedObject[] = [],
): Disagreement[] {
  const out: Disagreement[] = [];
  const add = (check: Disagreement['check'], status: BackupStatus, problems: string[]) =>
    problems.forEach((problem) => out.push({ check, status, problem }));
  const globalsKey = keysFor(parsed.stem).globals;
  if (manifest.key !== dump.key) add('key', 'wrong key', [`its manifest names key ${JSON.stringify(manifest.key)}, not ${dump.key}`]);
  if (manifest.globals && manifest.globals.key !== globalsKey)
    add('globals key', 'wrong key', [`its manifest names globals ${JSON.stringify(manifest.globals.key)}, not ${globalsKey}`]);
  const folder = keyFolderSegment(dump.key);
  if (databaseSegment(manifest.database) !== folder || (database !== undefined && manifest.database !== database)) {
    const asked = database !== undefined ? ` of database ${JSON.stringify(database)}` : '';
    add('database', 'wrong database', [
      `its manifest names database ${JSON.stringify(manifest.database)}, but it sits in the folder '${folder}/'${asked}`,
    ]);
  }
  add('time', 'invalid time', [...stampProblems(parsed.stamp, dump), ...manifestTimeProblems(parsed.stamp, manifest)]);
  if (manifest.bytes !== dump.size) add('size', 'size mismatch', [`the dump is ${dump.size} bytes, its manifest says ${manifest.bytes}`]);
  if (manifest.parallel) add('pieces', 'size mismatch', pieceProblems(parsed.stem, manifest.parallel.pieces, pieces));
  return out;
}

/** Problems with a parallel backup's pieces: each must be one of this stem's, stored, of the size its manifest says. */
function pieceProblems(stem: string, entries: readonly { key: string; bytes: number }[], stored: readonly ListedObject[]): string[] {
  const problems: string[] = [];
  for (const e of entries) {
    const found = stored.find((o) => o.key === e.key);
    if (parsePieceKey(e.key)?.stem !== stem) problems.push(`its manifest names the piece ${JSON.stringify(e.key)}, not one of ${stem}`);
    else if (!found) problems.push(`its piece ${e.key} is missing`);
    else if (found.size !== e.bytes) problems.push(`its piece ${e.key} is ${found.size} bytes, its manifest says ${e.bytes}`);
  }
  return problems;
}

/** The status and reasons that a list of disagreements gives (complete for none). */
function verdict(problems: readonly Disagreement[]): { status: BackupStatus; problem?: string } {
  if (problems.length === 0) return { status: 'complete' };
  return { status: problems[0].status, problem: problems.map((p) => p.problem).join('; ') };
}

type Slot = { parsed: ParsedKey; dump?: ListedObject; manifest?: ListedObject; globals?: ListedObject; pieces: ListedObject[] };

/** Groups a folder's objects by backup stem, newest first (a parallel backup's pieces with their stem). */
function slotsOf(objects: readonly ListedObject[]): [string, Slot][] {
  const byStem = new Map<string, Slot>();
  for (const o of objects) {
    const piece = parsePieceKey(o.key);
    const parsed = parseBackupKey(piece ? keysFor(piece.stem).dump : o.key);
    if (!parsed) continue;
    const slot = byStem.get(parsed.stem) ?? { parsed: { ...parsed, kind: 'dump' }, pieces: [] };
    if (piece) slot.pieces.push(o);
    else slot[parsed.kind] = o;
    byStem.set(parsed.stem, slot);
  }
  return [...byStem.entries()].sort(([, a], [, b]) => compareStems(b.parsed, a.parsed));
}

/** Reads and parses a slot's manifest: the Error says why it is not valid (a storage failure throws). */
async function manifestOf(client: S3Client, storage: StorageConfig, slot: Slot): Promise<Manifest | Error | undefined> {
  if (!slot.manifest) return undefined;
  try {
    return parseManifest(await readText(client, storage.bucket, slot.manifest.key), slot.manifest.key);
  } catch (err) {
    if ((err as { $metadata?: unknown }).$metadata) throw storageError(err, 'list', `Reading ${slot.manifest.key}`, storage);
    return err as Error;
  }
}

/** The status of a slot and why, `database` being the one whose folder was listed (if any). */
function judge(slot: Slot, m: Manifest | Error | undefined, database?: string): { status: BackupStatus; problem?: string } {
  if (!slot.dump) return { status: 'no dump', problem: `no dump beside ${slot.manifest ? 'its manifest' : 'its globals file'}` };
  if (!slot.manifest) {
    const unfinished = 'no manifest: that attempt never completed (or its manifest was deleted)';
    return { status: 'no manifest', problem: [unfinished, ...stampProblems(slot.parsed.stamp, slot.dump)].join('; ') };
  }
  if (m instanceof Error || !m) return { status: 'invalid manifest', problem: m?.message ?? 'unreadable manifest' };
  return verdict(agreementProblems(slot.parsed, slot.dump, m, database, slot.pieces));
}

function entryOf(stem: string, slot: Slot, m: Manifest | Error | undefined, database?: string): BackupEntry {
  const manifest = m instanceof Error ? undefined : m;
  return {
    stem,
    dumpKey: keysFor(stem).dump,
    parsed: slot.parsed,
    dump: slot.dump,
    manifestObject: slot.manifest,
    globals: slot.globals,
    pieces: slot.pieces,
    manifest,
    ...judge(slot, m, database),
    startedAt: manifest ? new Date(manifest.startedAt) : displayDate(slot.parsed.stamp),
    tier: manifest?.tier,
  };
}

async function folderObjects(client: S3Client, storage: StorageConfig, database: string): Promise<ListedObject[]> {
  return listObjects(client, storage.bucket, databaseFolder(storage.prefix, database)).catch((err) => {
    throw storageError(err, 'list', 'Listing backups', storage);
  });
}

/**
 * Lists the backups of `database`, newest first, reading every manifest so that each entry
 * says whether it is complete: a dump, plus a manifest that parses and agrees with it (key,
 * folder, database, time and size; see {@link agreementProblems}). A manifest that does not is
 * an invalid entry with its reasons, never an exception: one bad object cannot hide the rest.
 */
export async function listBackups(client: S3Client, storage: StorageConfig, database: string): Promise<BackupEntry[]> {
  const slots = slotsOf(await folderObjects(client, storage, database));
  const manifests = new Map<string, Manifest | Error | undefined>();
  for (let i = 0; i < slots.length; i += MANIFEST_READS_AT_ONCE) {
    await Promise.all(
      slots.slice(i, i + MANIFEST_READS_AT_ONCE).map(async ([stem, slot]) => manifests.set(stem, await manifestOf(client, storage, slot))),
    );
  }
  return slots.map(([stem, slot]) => entryOf(stem, slot, manifests.get(stem), database));
}

/**
 * The newest complete backup of `database` and every attempt newer than it (unfinished or
 * invalid), newest first. Reads manifests newest first and stops at the first complete backup,
 * so a folder of years of backups costs one listing and a few reads.
 */
export async function newestBackup(
  client: S3Client,
  storage: StorageConfig,
  database: string,
): Promise<{ complete?: BackupEntry; newerIncomplete: BackupEntry[]; backups: number }> {
  const slots = slotsOf(await folderObjects(client, storage, database));
  const newerIncomplete: BackupEntry[] = [];
  for (const [stem, slot] of slots) {
    const entry = entryOf(stem, slot, await manifestOf(client, storage, slot), database);
    if (entry.status === 'complete') return { complete: entry, newerIncomplete, backups: slots.length };
    newerIncomplete.push(entry);
  }
  return { newerIncomplete, backups: slots.length };
}

type ResolvedBackup = BackupEntry & { manifest: Manifest; dump: ListedObject };

/** `--latest`: the newest complete backup of the database; unfinished and invalid ones are skipped. */
async function latestBackup(client: S3Client, storage: StorageConfig, database: string): Promise<ResolvedBackup> {
  const all = await listBackups(client, storage, database);
  const found = all.find((e) => e.status === 'complete');
  if (found) return found as ResolvedBackup;
  const others =
    all.length > 0
      ? ` (${all.length} incomplete or invalid: ${all
          .slice(0, 3)
          .map((e) => `${e.dumpKey} ${e.status}`)
          .join(', ')})`
      : '';
  throw new TaskError(
    `No complete backup of '${database}' under s3://${storage.bucket}/${databaseFolder(storage.prefix, database)}${others}.`,
    {
      exitCode: ExitCode.INTEGRITY,
      stage: 'list',
    },
  );
}

/**
 * `--key`: the backup at that key, with a manifest that parses and names this key and the
 * database of the key's folder (exit 5 otherwise). Its time and size are not refused here: the
 * key was chosen by a person (list marks such a backup invalid), and verify and restore check
 * the size and SHA-256 themselves and name every mismatch.
 */
async function backupAtKey(client: S3Client, storage: StorageConfig, key: string): Promise<ResolvedBackup> {
  const parsed = parseBackupKey(key);
  if (!parsed) {
    throw new TaskError(`--key '${key}' is not a backup key: expected <prefix>/<database>/<YYYYMMDDHHmm>.dump, as printed by list.`, {
      exitCode: ExitCode.CONFIG,
      stage: 'config',
    });
  }
  const keys = keysFor(parsed.stem);
  const objects = await listObjects(client, storage.bucket, parsed.stem).catch((err) => {
    throw storageError(err, 'list', 'Looking up the backup', storage);
  });
  const dump = objects.find((o) => o.key === keys.dump);
  if (!dump) throw new TaskError(`No dump at s3://${storage.bucket}/${keys.dump}.`, { exitCode: ExitCode.INTEGRITY, stage: 'list' });
  if (!objects.some((o) => o.key === keys.manifest)) {
    throw new TaskError(
      `s3://${storage.bucket}/${keys.dump} has no manifest: that backup never completed (or its manifest was deleted) and cannot be trusted.`,
      { exitCode: ExitCode.INTEGRITY, stage: 'list' },
    );
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(await readText(client, storage.bucket, keys.manifest), keys.manifest);
  } catch (err) {
    if ((err as { $metadata?: unknown }).$metadata) throw storageError(err, 'list', `Reading ${keys.manifest}`, storage);
    throw new TaskError((err as Error).message, { exitCode: ExitCode.INTEGRITY, stage: 'verify' });
  }
  const pieces = objects.filter((o) => parsePieceKey(o.key)?.stem === parsed.stem);
  const problems = agreementProblems(parsed, dump, manifest, undefined, pieces);
  // A manifest that names another key or database is refused outright. The globals key is the
  // restore's to check (with --globals); copies of a backup to another stem keep the original's.
  const refused = problems.filter((p) => p.check === 'key' || p.check === 'database');
  if (refused.length > 0) {
    throw new TaskError(
      `s3://${storage.bucket}/${keys.dump} does not agree with its manifest: ${refused.map((p) => p.problem).join('; ')}.`,
      { exitCode: ExitCode.INTEGRITY, stage: 'verify' },
    );
  }
  return {
    stem: parsed.stem,
    dumpKey: keys.dump,
    parsed,
    dump,
    manifest,
    globals: objects.find((o) => o.key === keys.globals),
    pieces,
    ...verdict(problems),
    startedAt: new Date(manifest.startedAt),
    tier: manifest.tier,
  };
}

/**
 * The backup that `--key` or `--latest` names: a dump with a valid manifest. `--latest` is the
 * newest complete backup: a dump without its manifest, or a backup whose manifest does not
 * agree with its key, folder, time or size, is never chosen. A `--key` backup is refused only
 * for another key or database (see backupAtKey); its `status` and `problem` still say what
 * `list` would (an invalid time, a size mismatch, another stem's globals key).
 */
export async function resolveBackup(
  client: S3Client,
  storage: StorageConfig,
  choice: { key?: string; latest?: boolean; database?: string },
): Promise<ResolvedBackup> {
  return choice.latest ? latestBackup(client, storage, choice.database!) : backupAtKey(client, storage, choice.key!);
}

/**
 * The databases that have a folder under the prefix. Key segments are percent-encoded when
 * a database name is not plainly safe (see key.ts), so they are decoded back.
 */
export async function databasesUnder(client: S3Client, storage: StorageConfig): Promise<string[]> {
  const base = storage.prefix ? `${storage.prefix}/` : '';
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client
      .send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token }))
      .catch((err) => {
        throw storageError(err, 'list', 'Listing the databases', storage);
      });
    for (const p of page.CommonPrefixes ?? []) {
      const segment = p.Prefix!.slice(base.length, -1);
      try {
        out.push(decodeURIComponent(segment));
      } catch {
        out.push(segment);
      }
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}
