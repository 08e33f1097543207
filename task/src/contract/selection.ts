/**
 * A backup's dump selection, the pure part shared by the stack (which passes it to the backup
 * container as flags) and the task (which dumps it and records it in the manifest): types,
 * normalisation, problems, flags and descriptions. Checking the patterns against a database is
 * the task's (postgres/selection.ts).
 */
/**
 * What a backup dumps when it is not the whole database: pg_dump's own patterns (`-n`, `-N`,
 * `-t`, `-T`, `--exclude-table-data`), recorded in the manifest so that `list`, `verify`,
 * `restore` and the drill can say that a backup is partial.
 */
export interface DumpSelection {
  /** Only these schemas (pg_dump -n). */
  readonly schemas?: readonly string[];
  /** Not these schemas (pg_dump -N). */
  readonly excludeSchemas?: readonly string[];
  /** Only these tables, views and sequences (pg_dump -t), and nothing they depend on. */
  readonly tables?: readonly string[];
  /** Not these tables (pg_dump -T). */
  readonly excludeTables?: readonly string[];
  /** These tables' definitions, without their rows (pg_dump --exclude-table-data). */
  readonly excludeTableData?: readonly string[];
}

type Field = keyof DumpSelection;

/** pg_dump's flag and the words used in messages, per field. */
export const SELECTION_FIELDS: Record<
  Field,
  { readonly flag: string; readonly kind: 'schema' | 'table'; readonly include: boolean; readonly says: string }
> = {
  schemas: { flag: '--schema', kind: 'schema', include: true, says: 'only schemas' },
  excludeSchemas: { flag: '--exclude-schema', kind: 'schema', include: false, says: 'without schemas' },
  tables: { flag: '--table', kind: 'table', include: true, says: 'only tables' },
  excludeTables: { flag: '--exclude-table', kind: 'table', include: false, says: 'without tables' },
  excludeTableData: { flag: '--exclude-table-data', kind: 'table', include: false, says: 'without the rows of' },
};
/** The fields in pg_dump's order. */
export const SELECTION_ORDER = Object.keys(SELECTION_FIELDS) as Field[];

/** The selection with empty lists dropped; undefined when it is the whole database. */
export function normalizeSelection(selection: DumpSelection | undefined): DumpSelection | undefined {
  if (!selection) return undefined;
  const out: Partial<Record<Field, readonly string[]>> = {};
  for (const f of SELECTION_ORDER) if (selection[f] && selection[f].length > 0) out[f] = [...selection[f]];
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Problems with a selection that pg_dump would accept but not honour; `name` says how a field is set where it was read. */
export function selectionProblems(selection: DumpSelection | undefined, name: (field: keyof DumpSelection) => string): string[] {
  if (selection?.tables?.length && (selection.schemas?.length || selection.excludeSchemas?.length)) {
    return [
      `${name('tables')} cannot be combined with ${name('schemas')} or ${name('excludeSchemas')}: pg_dump ignores the schema patterns when tables are named. Qualify the table patterns instead (e.g. app.orders).`,
    ];
  }
  return [];
}

/** Problems with the patterns themselves (any source): empty, or holding control characters. */
export function patternProblems(selection: DumpSelection | undefined, name: (field: keyof DumpSelection) => string): string[] {
  // eslint-disable-next-line no-control-regex -- control characters are what this rejects
  const bad = (p: string) => p.trim() === '' || /[\u0000-\u001f\u007f]/.test(p);
  return SELECTION_ORDER.flatMap((f) =>
    (selection?.[f] ?? []).filter(bad).map((p) => `${name(f)} has an empty pattern or one with control characters: ${JSON.stringify(p)}.`),
  );
}

/**
 * The selection as the CLI's own flags (which are pg_dump's), one argv item per pattern:
 * `--exclude-table-data=public.audit_log`. The stack gives these to the backup container.
 */
export function selectionFlags(selection: DumpSelection | undefined): string[] {
  const s = normalizeSelection(selection);
  return s ? SELECTION_ORDER.flatMap((f) => (s[f] ?? []).map((pattern) => `${SELECTION_FIELDS[f].flag}=${pattern}`)) : [];
}

/**
 * pg_dump's arguments for the selection, one argv item each (no shell, no splitting). With
 * include patterns, `--strict-names` makes pg_dump itself fail on one that matches nothing.
 */
export function selectionArgs(selection: DumpSelection | undefined): string[] {
  const s = normalizeSelection(selection);
  if (!s) return [];
  return [...(s.schemas || s.tables ? ['--strict-names'] : []), ...selectionFlags(s)];
}

/** "only schemas app, billing; without the rows of audit.log", or undefined for a whole-database backup. */
export function describeSelection(selection: DumpSelection | undefined): string | undefined {
  const s = normalizeSelection(selection);
  if (!s) return undefined;
  return SELECTION_ORDER.filter((f) => s[f])
    .map((f) => `${SELECTION_FIELDS[f].says} ${s[f]!.join(', ')}`)
    .join('; ');
}
