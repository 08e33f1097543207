import { Manifest, PieceEntry } from '../storage/manifest';
import { ArchiveToc, TocEntry } from './format';
import { archiveIdentityProblems } from './header';

/** The entries every archive begins with (its encoding, string style and search path). */
const PREAMBLE = new Set(['ENCODING', 'STDSTRINGS', 'SEARCHPATH']);

/**
 * What `pg_dump --data-only` writes, and pg_restore --data-only restores: rows, sequence values and
 * large objects (their entries, and their comments, privileges and labels), plus the DATABASE
 * entry and, for a database with settings of its own, DATABASE PROPERTIES: pg_restore applies
 * those two only with --create (_tocEntryRequired), which no piece is restored with.
 */
function isDataEntry(e: TocEntry): boolean {
  if (['TABLE DATA', 'SEQUENCE SET', 'BLOB', 'BLOB METADATA', 'BLOBS', 'DATABASE', 'DATABASE PROPERTIES'].includes(e.desc)) return true;
  return ['COMMENT', 'ACL', 'SECURITY LABEL'].includes(e.desc) && e.tag.startsWith('LARGE OBJECT ');
}

const named = (e: TocEntry) => `${JSON.stringify(e.namespace)}.${JSON.stringify(e.tag)}`;
/** A TOC's strings are bytes, one character each: UTF-8 names are compared as UTF-8. */
const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');

/**
 * Problems with a data piece of a parallel backup, from its header and table of contents: it
 * must be an archive of the manifest's database that holds data only, a table's piece exactly
 * that table's rows, and the rest no rows of a table that has pieces of its own (rows twice).
 * Each piece's bytes are checked against the manifest as they stream; this checks that what the
 * manifest says a piece is, the archive is too.
 */
export function pieceProblems(toc: ArchiveToc, piece: PieceEntry, manifest: Manifest): string[] {
  const problems = archiveIdentityProblems(toc.header, manifest).map((p) => `${piece.key}: ${p}`);
  const content = toc.entries.filter((e) => !PREAMBLE.has(e.desc));
  const foreign = content.filter((e) => !isDataEntry(e));
  if (foreign.length > 0)
    problems.push(`${piece.key} holds ${foreign.map((e) => `a ${e.desc} entry`).join(', ')}, which a data piece never holds`);
  if (piece.kind === 'table') {
    const table = piece.table!;
    const rows = content.filter((e) => e.desc === 'TABLE DATA');
    const own = rows.length === 1 && content.length === 1 && utf8(rows[0].namespace) === table.schema && utf8(rows[0].tag) === table.name;
    if (!own)
      problems.push(
        `${piece.key} should hold the rows of ${JSON.stringify(table.schema)}.${JSON.stringify(table.name)} only, but holds ${content.map((e) => `${e.desc} ${named(e)}`).join(', ') || 'nothing'}`,
      );
  } else {
    const split = new Set(
      (manifest.parallel?.pieces ?? []).flatMap((p) => (p.table ? [JSON.stringify([p.table.schema, p.table.name])] : [])),
    );
    const twice = content.filter((e) => e.desc === 'TABLE DATA' && split.has(JSON.stringify([utf8(e.namespace), utf8(e.tag)])));
    if (twice.length > 0)
      problems.push(
        `${piece.key} holds rows of ${twice.map(named).join(', ')}, which have pieces of their own (rows would be restored twice)`,
      );
  }
  return problems;
}
