import { EXIT_CODES } from '../contract';
import { CommandName, COMMAND_NAMES, defaultShown, SETTINGS, SettingSpec } from '../config/settings';
import { TOOL_VERSION } from '../version';
import { COMMANDS } from './index';

/** The top-level usage text. */
export function mainHelp(): string {
  const lines = [
    `pg-s3-backup ${TOOL_VERSION}: verified PostgreSQL backups in S3`,
    '',
    'Usage: pg-s3-backup <command> [options]     (every option also reads the environment variable shown)',
    '',
    'Commands:',
    ...COMMAND_NAMES.map((c) => `  ${c.padEnd(9)} ${COMMANDS[c].summary}`),
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
  const out = [`pg-s3-backup ${command}: ${COMMANDS[command].summary}`, '', `Usage: pg-s3-backup ${command} [options]`, ''];
  for (const group of groups) {
    out.push(`${group}:`);
    for (const s of specs.filter((x) => x.group === group)) {
      const flag = `--${s.flag}${s.type === 'boolean' ? '' : s.values ? ` <${s.values.join('|')}>` : s.type === 'integer' ? ' <n>' : s.type === 'list' ? (s.secret ? ' <url>' : ' <pattern>') : ' <value>'}`;
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
