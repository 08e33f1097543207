import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { ExitCode, TaskError } from '../errors';
import { ArchiveFormatError, ArchiveToc, readArchiveToc } from './format';
import { transferFailure } from './objects';

/**
 * Where an archive is read from: a local file, or the stored object, opened anew for each read.
 * A table of contents is at the front of the archive, so a read of it from the stored object
 * stops the transfer as soon as it is read (a few kilobytes of a large archive).
 */
export type ArchiveInput = string | (() => Promise<Readable>);

/**
 * Reads an archive's header and table of contents (see archive-format.ts), keeping the SQL of
 * the entry kinds `keepDefn` names, then stops reading. An archive it cannot read is an
 * integrity failure (exit 5); a transfer that breaks, a storage failure.
 */
export async function readTableOfContents(input: ArchiveInput, keepDefn: (desc: string) => boolean, key: string): Promise<ArchiveToc> {
  const stream = typeof input === 'string' ? createReadStream(input) : await input();
  try {
    return await readArchiveToc(stream, { keepDefn });
  } catch (err) {
    if (err instanceof ArchiveFormatError)
      throw new TaskError(`The table of contents of ${key} cannot be read: ${err.message}.`, {
        exitCode: ExitCode.INTEGRITY,
        stage: 'restore',
      });
    throw err instanceof TaskError ? err : transferFailure(key, err, undefined, 'download');
  } finally {
    stream.destroy();
  }
}

/** Number of TABLE DATA entries in a table of contents (for progress). */
export function countTableData(toc: ArchiveToc): number {
  return toc.entries.filter((e) => e.desc === 'TABLE DATA').length;
}
