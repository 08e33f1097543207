declare const PG_S3_BACKUP_VERSION: string | undefined;

/** The tool's version, injected by the esbuild bundle; 'dev' when run from source (tests). */
export const TOOL_VERSION: string = typeof PG_S3_BACKUP_VERSION === 'string' ? PG_S3_BACKUP_VERSION : 'dev';
