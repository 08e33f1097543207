import { EXIT_CODES } from '../contract';
import { CommandName, defaultShown, SETTINGS, SettingSpec } from './settings';
import { TOOL_VERSION } from '../version';

const SUMMARY: Record<CommandName, string> = {
  backup: 'Stream pg_dump -Fc of one database into S3; the backup exists only if it is complete.',
  list: 'List the backups of a database, newest first.',
  status: 'Show how old the newest complete backup of each database is; with --max-age-hours, fail when one is too old.',
  verify: 'Check a stored backup against its manifest and read the whole archive.',
  restore: 'Restore a stored backup into a database.',
};

/** The top-level usage text. */
export function mainHelp(): string {
  const lines = [
    `pg-s3-backup ${TOOL_VERSION}: verified PostgreSQL backups in S3`,
    '',
    'Usage: pg-s3-backup <command> [options]     (every option also reads the environment variable shown)',
    '',
    'Commands:',
    ...Object.entries(SUMMARY).map(([c, s]) => `  ${c.padEnd(9)} ${s}`),
    '',
    "Run 'pg-s3-backup <command> --help' for a command's options.",
    '',
    exitCodesHelp(),
  ];
  return lines.join('\n');
}

/** The exit code table, shared by every help page. */
export function exitCodesHelp(): string {
  return ['Exit codes:', ...EXIT_CODES.map((e) => `  ${String(e.code).padStart(3)}  ${e.meaning}`)].join('\n');
}

/** Help for one command, generated from the settings table. */
export function commandHelp(command: CommandName): string {
  const specs = (Object.values(SETTINGS) as SettingSpec[]).filter((s) => s.commands.includes(command));
  const groups = [...new Set(specs.map((s) => s.group))];
  const out = [`pg-s3-backup ${command}: ${SUMMARY[command]}`, '', `Usage: pg-s3-backup ${command} [options]`, ''];
  for (const group of groups) {
    out.push(`${group}:`);
    for (const s of specs.filter((x) => x.group === group)) {
      const flag = `--${s.flag}${s.type === 'boolean' ? '' : s.values ? ` <${s.values.join('|')}>` : s.type === 'integer' ? ' <n>' : s.type === 'list' ? ' <pattern>' : ' <value>'}`;
      out.push(`  ${flag}${s.env ? `   [${s.env}]` : ''}`);
      out.push(`      ${s.help}${defaultShown(s) ? ` Default: ${defaultShown(s)}.` : ''}`);
    }
    out.push('');
  }
  if (specs.some((s) => s.group === 'Database')) {
    out.push('The password is read only from PGPASSWORD, a PGPASSFILE, or DATABASE_URL: there is no password flag,');
    out.push('because command lines are visible to every process on the machine.', '');
  }
  out.push(exitCodesHelp());
  return out.join('\n');
}
