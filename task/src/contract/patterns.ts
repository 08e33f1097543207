/** Values both sides validate the same way: the stack at synth, the task before it connects. */

/** libpq's sslmode values. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/** Where a parallel backup's streams run: worker threads, the main thread, or chosen by the cores (BACKUP_STREAM_THREADS). */
export const STREAM_THREADS = ['auto', 'on', 'off'] as const;
export type StreamThreads = (typeof STREAM_THREADS)[number];
export type SslMode = (typeof SSL_MODES)[number];

/** A pg_dump `-Z` value: a gzip level, or method[:level] (the method forms need pg_dump 16+). */
export const COMPRESSION_PATTERN = /^(?:[0-9]|(?:gzip|lz4|zstd|none)(?::(?:level=)?\d{1,2})?)$/;

/** An S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-'). */
export const BUCKET_NAME_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
