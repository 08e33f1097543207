import { hostname } from 'node:os';
import { EVENTS, exitWord } from '../contract';
import { Outcome } from './outcome';
import { outcomeText } from './text';

/**
 * The JSON document a webhook receives for one database's outcome. `text` is what Slack,
 * Mattermost and Microsoft Teams incoming webhooks show; the other fields are for machines.
 */
export interface WebhookDocument {
  /** One line for people: "backup of orders failed (exit 3 database, during connect): …". */
  readonly text: string;
  /** The log event of the outcome: backup.complete, backup.failed, verify.ok, verify.failed. */
  readonly event: string;
  /** `backup`, or `verify` (the restore drill). */
  readonly command: Outcome['kind'];
  readonly database: string;
  readonly ok: boolean;
  /** 0 on success, else the exit code of this database's failure. */
  readonly exitCode: number;
  /** The exit code's word: success, database, storage, integrity, local-disk, interrupted, internal. */
  readonly exitWord: string;
  /** Where it failed (connect, dump, upload, manifest, verify…); null on success. */
  readonly stage: string | null;
  /** The cause of a failure, whole; null on success. */
  readonly cause: string | null;
  /** The dump's key (written or checked), or null when the run did not get that far. */
  readonly key: string | null;
  /** The backup's stored bytes, or null when unknown. */
  readonly bytes: number | null;
  readonly durationSeconds: number;
  /**
   * True when the backup holds only part of the database (a selection of schemas or tables,
   * or tables without their rows, as `selection` says): it cannot stand in for the whole
   * database. False for a whole-database backup; null when not known (a failure before it was read).
   */
  readonly partial: boolean | null;
  /** What a partial backup holds, e.g. "schemas public; tables without rows public.audit_log"; null otherwise. */
  readonly selection: string | null;
  /** The configured project (--project), or null. */
  readonly project: string | null;
  /** The machine that ran it. */
  readonly host: string;
  /** When the outcome was known (ISO 8601, UTC). */
  readonly time: string;
}

const EVENT_OF = {
  backup: { ok: EVENTS.backupComplete, failed: EVENTS.backupFailed },
  verify: { ok: EVENTS.verifyOk, failed: EVENTS.verifyFailed },
} as const;

/** The webhook document of one outcome. */
export function webhookDocument(o: Outcome, project: string | undefined): WebhookDocument {
  const ok = o.exitCode === 0;
  return {
    text: outcomeText(o),
    event: EVENT_OF[o.kind][ok ? 'ok' : 'failed'],
    command: o.kind,
    database: o.database,
    ok,
    exitCode: o.exitCode,
    exitWord: exitWord(o.exitCode),
    stage: ok ? null : (o.stage ?? null),
    cause: ok ? null : (o.cause ?? null),
    key: o.key ?? null,
    bytes: o.bytes ?? null,
    durationSeconds: o.durationSeconds,
    partial: typeof o.partial === 'string' ? true : o.partial === false ? false : null,
    selection: typeof o.partial === 'string' ? o.partial : null,
    project: project ?? null,
    host: hostname(),
    time: o.finishedAt.toISOString(),
  };
}
