import { describeSelection } from '../contract';
import { ExitCode, TaskError } from '../errors';
import { Logger } from '../log';
import { compressionProblem, defaultCompression } from '../postgres/dump';
import { findUnmatchedPatterns } from '../postgres/selection';
import { checkVersions, clientVersion, serverInfo, ServerInfo } from '../postgres/tools';
import { inStage } from './phase';
import { BackupInput } from './types';

/** What the source check learned. */
export interface Source {
  readonly server: ServerInfo;
  readonly pgDump: { readonly text: string; readonly num: number };
  /** pg_dump's -Z for this run; undefined for pg_dump's own gzip 6. */
  readonly compress?: string;
}

/**
 * Phase 1: connects to the server, checks that this pg_dump can dump it and take the compression,
 * and that every include pattern of a selection matches something, before anything is uploaded.
 */
export async function checkSource(input: BackupInput, log: Logger, signal: AbortSignal): Promise<Source> {
  const { conn, tools } = input;
  log.info('backup.check', `Connecting to ${conn.display}`, { database: conn.database });
  const [server, pgDump] = await inStage('connect', signal, () =>
    Promise.all([serverInfo(tools, conn), clientVersion(tools.pgDump, 'pg_dump', conn.childEnv)]),
  );
  const compress = await inStage('version-check', signal, async () => {
    checkVersions(server, pgDump);
    // Unset: zstd:1 where this pg_dump can (docs/performance.md, Compression), else pg_dump's gzip 6.
    const chosen = input.compress ?? (await defaultCompression(tools.pgDump, pgDump.num));
    const problem = compressionProblem(chosen, pgDump.num);
    if (problem) throw new TaskError(problem, { exitCode: ExitCode.CONFIG, stage: 'version-check' });
    return chosen;
  });
  if (input.selection) await inStage('plan', signal, () => checkSelection(input, log));
  return { server, pgDump, compress };
}

/** A pattern that matches nothing is a typo, not an empty backup: an include pattern stops the run, an exclude pattern is a warning. */
async function checkSelection(input: BackupInput, log: Logger): Promise<void> {
  const { conn } = input;
  const selection = input.selection!;
  const unmatched = await findUnmatchedPatterns(input.tools, conn, selection);
  if (unmatched.include.length > 0) {
    throw new TaskError(
      `${unmatched.include.join(', ')} ${unmatched.include.length === 1 ? 'matches' : 'match'} nothing in ${conn.database}: nothing was backed up. Check the spelling, the schema qualifier and the case (pg_dump folds unquoted names to lower case; quote mixed case as "Name").`,
      { exitCode: ExitCode.CONFIG, stage: 'plan' },
    );
  }
  for (const pattern of unmatched.exclude)
    log.warn('backup.selection', `${pattern} matches nothing in ${conn.database}: it excludes nothing.`, { pattern });
  log.info('backup.selection', `Partial backup of ${conn.database}: ${describeSelection(selection)}`, { selection });
}
