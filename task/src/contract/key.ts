import { ENV } from './environment';

/**
 * Pure naming of backup objects. A backup is three objects sharing a stem:
 *
 *   <prefix>/<database>/<YYYYMMDDHHmm>[-<n>].dump           the pg_dump custom-format archive
 *   <prefix>/<database>/<YYYYMMDDHHmm>[-<n>].manifest.json  written last: its presence marks the backup complete
 *   <prefix>/<database>/<YYYYMMDDHHmm>[-<n>].globals.sql    optional: pg_dumpall --globals-only
 *
 * The stamp is the UTC start minute, as the cron line named its dumps. A second backup
 * started in the same minute gets `-2`, then `-3`…: an existing object is never overwritten.
 */
export const DUMP_SUFFIX = '.dump';
export const MANIFEST_SUFFIX = '.manifest.json';
export const GLOBALS_SUFFIX = '.globals.sql';

export type Tier = 'daily' | 'weekly' | 'monthly';

export interface BackupKeys {
  readonly stem: string;
  readonly dump: string;
  readonly manifest: string;
  readonly globals: string;
}

export interface ParsedKey {
  readonly stem: string;
  /** `YYYYMMDDHHmm`. */
  readonly stamp: string;
  /** 1 for the first backup of a minute, 2 for `-2`… */
  readonly sequence: number;
  readonly kind: 'dump' | 'manifest' | 'globals';
}

/** `YYYYMMDDHHmm` of `date` in UTC. */
export function timestampOf(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}`;
}

/**
 * The UTC minute a `YYYYMMDDHHmm` stamp names, or undefined when it names none: a stamp is
 * valid only if it round-trips through {@link timestampOf} (no 30 February, no hour 24, no year
 * before 1000), so a key cannot claim a time that no backup could have started at.
 */
export function stampDate(stamp: string): Date | undefined {
  if (!/^\d{12}$/.test(stamp)) return undefined;
  const [y, mo, d, h, mi] = [0, 4, 6, 8, 10].map((at, i) => Number(stamp.slice(at, i === 0 ? 4 : at + 2)));
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi));
  return timestampOf(date) === stamp ? date : undefined;
}

/** The key segment for a database name: kept as is when it is plainly safe, else percent-encoded. */
export function databaseSegment(database: string): string {
  if (database === '.' || database === '..') return database.replace(/\./g, '%2E');
  return /^[\p{L}\p{N}_.-]+$/u.test(database) ? database : encodeURIComponent(database);
}

/** A key prefix without leading and trailing slashes ('' for none): how every side spells it. */
export function trimPrefix(prefix: string | undefined): string {
  return (prefix ?? '').replace(/^\/+|\/+$/g, '');
}

/** Problems with a key prefix, for configuration validation; `name` is how the setting is called where it was read. */
export function prefixProblems(prefix: string, name: string = ENV.prefix): string[] {
  const problems: string[] = [];
  if (
    trimPrefix(prefix)
      .split('/')
      .some((s) => s === '' || s === '.' || s === '..')
  ) {
    problems.push(`${name} '${prefix}' has an empty, '.' or '..' segment. Use plain segments like 'myapp/prod'.`);
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
  if (/[\u0000-\u001f\u007f\\]/.test(prefix))
    problems.push(`${name} '${JSON.stringify(prefix)}' has control characters or backslashes. Use letters, digits, '-', '_', '.', '/'.`);
  return problems;
}

/** The folder (ending in '/') that holds a database's backups. */
export function databaseFolder(prefix: string | undefined, database: string): string {
  const p = trimPrefix(prefix);
  return `${p ? `${p}/` : ''}${databaseSegment(database)}/`;
}

export function keysFor(stem: string): BackupKeys {
  return { stem, dump: stem + DUMP_SUFFIX, manifest: stem + MANIFEST_SUFFIX, globals: stem + GLOBALS_SUFFIX };
}

/**
 * The folder segment a backup key sits in (its database's {@link databaseSegment}, when the key
 * was written by this tool): `p/app/202603040405.dump` gives `app`, a key without a folder ''.
 */
export function keyFolderSegment(key: string): string {
  const parts = key.split('/');
  return parts.length > 1 ? parts[parts.length - 2] : '';
}

/**
 * A piece of a parallel backup (backup --jobs N): `<stem>.part-<NNNN>.dump`, beside the stem's
 * `.dump` (its schema) and `.manifest.json` (which lists every piece).
 */
export function pieceKey(stem: string, piece: number): string {
  return `${stem}.part-${String(piece).padStart(4, '0')}${DUMP_SUFFIX}`;
}

/** The stem and number of a piece key; undefined for any other key. */
export function parsePieceKey(key: string): { readonly stem: string; readonly piece: number } | undefined {
  const m = /^(.*)\.part-(\d{4,})\.dump$/.exec(key);
  return m && parseBackupKey(m[1] + DUMP_SUFFIX) ? { stem: m[1], piece: Number(m[2]) } : undefined;
}

/** Parses a key of the layout above; undefined for anything else. */
export function parseBackupKey(key: string): ParsedKey | undefined {
  const m = /^(.*\/)?(\d{12})(?:-(\d+))?(\.dump|\.manifest\.json|\.globals\.sql)$/.exec(key);
  if (!m) return undefined;
  const kind = m[4] === DUMP_SUFFIX ? 'dump' : m[4] === MANIFEST_SUFFIX ? 'manifest' : 'globals';
  const stem = key.slice(0, key.length - m[4].length);
  return { stem, stamp: m[2], sequence: m[3] ? Number(m[3]) : 1, kind };
}

/**
 * Problems with a key given to read one backup (`--key`), for configuration validation;
 * `name` is how the setting is called where it was read. A key must be exactly what this
 * layout writes: `[<prefix>/]<database>/<YYYYMMDDHHmm>[-<n>].dump` (or its manifest or
 * globals), in plain segments, so that it cannot reach outside the folder it names. Pure.
 */
export function backupKeyProblems(key: string, name: string = ENV.key): string[] {
  const shown = JSON.stringify(key);
  const problems: string[] = [];
  if (/\p{Cc}/u.test(key)) problems.push(`${name} ${shown} has a control character. Use the key as list prints it.`);
  if (key.includes('\\')) problems.push(`${name} ${shown} has a backslash. Keys use '/' between segments.`);
  if (key.startsWith('/')) problems.push(`${name} ${shown} starts with '/'. Give the key as list prints it, without a leading '/'.`);
  const segments = key.replace(/^\/+/, '').split('/');
  if (segments.some((s) => s === '.' || s === '..'))
    problems.push(`${name} ${shown} has a '.' or '..' segment. Use the key as list prints it.`);
  if (segments.some((s) => s === '')) problems.push(`${name} ${shown} has an empty segment ('//' or a trailing '/').`);
  if (problems.length === 0 && (!parseBackupKey(key) || segments.length < 2)) {
    problems.push(`${name} ${shown} is not a backup key: expected [<prefix>/]<database>/<YYYYMMDDHHmm>.dump, as printed by list.`);
  }
  return problems;
}

/**
 * The first free stem for a backup of `database` started at `start`, given the keys that
 * already exist under its folder with that minute's stamp.
 */
export function chooseStem(prefix: string | undefined, database: string, start: Date, existingKeys: Iterable<string>): string {
  const base = databaseFolder(prefix, database) + timestampOf(start);
  const taken = new Set<string>();
  for (const key of existingKeys) {
    // A piece left by a parallel run that never completed takes its stem too.
    const stem = parseBackupKey(key)?.stem ?? parsePieceKey(key)?.stem;
    if (stem) taken.add(stem);
  }
  for (let n = 1; ; n++) {
    const stem = n === 1 ? base : `${base}-${n}`;
    if (!taken.has(stem)) return stem;
  }
}

/** Orders stems oldest first: by stamp, then by sequence within a minute. */
export function compareStems(a: ParsedKey, b: ParsedKey): number {
  return a.stamp === b.stamp ? a.sequence - b.sequence : a.stamp < b.stamp ? -1 : 1;
}

/** The retention tier of a backup started at `start`: monthly on the 1st, weekly on Sundays (UTC). */
export function tierFor(start: Date, setting: 'auto' | Tier = 'auto'): Tier {
  if (setting !== 'auto') return setting;
  if (start.getUTCDate() === 1) return 'monthly';
  if (start.getUTCDay() === 0) return 'weekly';
  return 'daily';
}
