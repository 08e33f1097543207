import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ExitCode, TaskError } from '../errors';
import { compareStems, databaseFolder, keysFor, parseBackupKey, ParsedKey, Tier } from '../contract';
import { Manifest, parseManifest } from './manifest';
import { listObjects, ListedObject, StorageConfig, storageError } from './s3';

/** One backup as found in the bucket. */
export interface BackupEntry {
  readonly stem: string;
  readonly dumpKey: string;
  readonly parsed: ParsedKey;
  readonly dump?: ListedObject;
  readonly manifestObject?: ListedObject;
  readonly globals?: ListedObject;
  readonly manifest?: Manifest;
  /** complete: dump and a valid manifest that matches it. Anything else says what is wrong. */
  readonly status: 'complete' | 'no manifest' | 'no dump' | 'invalid manifest' | 'size mismatch';
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

function stampDate(stamp: string): Date {
  const [y, mo, d, h, mi] = [0, 4, 6, 8, 10].map((i, n) => Number(stamp.slice(i, n === 0 ? 4 : i + 2)));
  return new Date(Date.UTC(y, mo - 1, d, h, mi));
}

type Slot = { parsed: ParsedKey; dump?: ListedObject; manifest?: ListedObject; globals?: ListedObject };

/** Groups a folder's objects by backup stem, newest first. */
function slotsOf(objects: readonly ListedObject[]): [string, Slot][] {
  const byStem = new Map<string, Slot>();
  for (const o of objects) {
    const parsed = parseBackupKey(o.key);
    if (!parsed) continue;
    const slot = byStem.get(parsed.stem) ?? { parsed: { ...parsed, kind: 'dump' } };
    slot[parsed.kind] = o;
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

function entryOf(stem: string, slot: Slot, m: Manifest | Error | undefined): BackupEntry {
  const manifest = m instanceof Error ? undefined : m;
  const status: BackupEntry['status'] = !slot.dump
    ? 'no dump'
    : !slot.manifest
      ? 'no manifest'
      : !manifest
        ? 'invalid manifest'
        : manifest.bytes !== slot.dump.size || manifest.key !== slot.dump.key
          ? 'size mismatch'
          : 'complete';
  return {
    stem,
    dumpKey: keysFor(stem).dump,
    parsed: slot.parsed,
    dump: slot.dump,
    manifestObject: slot.manifest,
    globals: slot.globals,
    manifest,
    status,
    startedAt: manifest ? new Date(manifest.startedAt) : stampDate(slot.parsed.stamp),
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
 * says whether it is complete: a dump, plus a manifest that parses and names the dump's size.
 */
export async function listBackups(client: S3Client, storage: StorageConfig, database: string): Promise<BackupEntry[]> {
  const slots = slotsOf(await folderObjects(client, storage, database));
  const manifests = new Map<string, Manifest | Error | undefined>();
  for (let i = 0; i < slots.length; i += MANIFEST_READS_AT_ONCE) {
    await Promise.all(
      slots.slice(i, i + MANIFEST_READS_AT_ONCE).map(async ([stem, slot]) => manifests.set(stem, await manifestOf(client, storage, slot))),
    );
  }
  return slots.map(([stem, slot]) => entryOf(stem, slot, manifests.get(stem)));
}

/**
 * The newest complete backup of `database` and the attempts newer than it (all incomplete),
 * newest first. Reads manifests newest first and stops at the first complete backup, so a
 * folder of years of backups costs one listing and a few reads.
 */
export async function newestBackup(
  client: S3Client,
  storage: StorageConfig,
  database: string,
): Promise<{ complete?: BackupEntry; newerIncomplete: BackupEntry[]; backups: number }> {
  const slots = slotsOf(await folderObjects(client, storage, database));
  const newerIncomplete: BackupEntry[] = [];
  for (const [stem, slot] of slots) {
    const entry = entryOf(stem, slot, await manifestOf(client, storage, slot));
    if (entry.status === 'complete') return { complete: entry, newerIncomplete, backups: slots.length };
    newerIncomplete.push(entry);
  }
  return { newerIncomplete, backups: slots.length };
}

/**
 * The backup that `--key` or `--latest` names, complete (dump + valid manifest). `--latest`
 * is the newest complete backup: a dump without its manifest is never chosen.
 */
export async function resolveBackup(
  client: S3Client,
  storage: StorageConfig,
  choice: { key?: string; latest?: boolean; database?: string },
): Promise<BackupEntry & { manifest: Manifest; dump: ListedObject }> {
  if (choice.latest) {
    const all = await listBackups(client, storage, choice.database!);
    const found = all.find((e) => e.status === 'complete');
    if (!found) {
      const incomplete =
        all.length > 0
          ? ` (${all.length} incomplete: ${all
              .slice(0, 3)
              .map((e) => `${e.dumpKey} ${e.status}`)
              .join(', ')})`
          : '';
      throw new TaskError(
        `No complete backup of '${choice.database}' under s3://${storage.bucket}/${databaseFolder(storage.prefix, choice.database!)}${incomplete}.`,
        {
          exitCode: ExitCode.INTEGRITY,
          stage: 'list',
        },
      );
    }
    return found as BackupEntry & { manifest: Manifest; dump: ListedObject };
  }
  const parsed = parseBackupKey(choice.key!);
  if (!parsed) {
    throw new TaskError(
      `--key '${choice.key}' is not a backup key: expected <prefix>/<database>/<YYYYMMDDHHmm>.dump, as printed by list.`,
      { exitCode: ExitCode.CONFIG, stage: 'config' },
    );
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
      {
        exitCode: ExitCode.INTEGRITY,
        stage: 'list',
      },
    );
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(await readText(client, storage.bucket, keys.manifest), keys.manifest);
  } catch (err) {
    if ((err as { $metadata?: unknown }).$metadata) throw storageError(err, 'list', `Reading ${keys.manifest}`, storage);
    throw new TaskError((err as Error).message, { exitCode: ExitCode.INTEGRITY, stage: 'verify' });
  }
  return {
    stem: parsed.stem,
    dumpKey: keys.dump,
    parsed,
    dump,
    manifest,
    globals: objects.find((o) => o.key === keys.globals),
    status: 'complete',
    startedAt: new Date(manifest.startedAt),
    tier: manifest.tier,
  };
}
