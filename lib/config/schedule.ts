import { DEFAULT_BACKUP_SCHEDULE } from '../postgres-backup';
import { DEFAULT_DRILL_SCHEDULE } from '../restore-drill';
import { show } from './reader';

/** The constructs' default schedules, as the expressions cdk.json holds. */
export const DEFAULT_SCHEDULE = DEFAULT_BACKUP_SCHEDULE.expressionString;
export const DEFAULT_DRILL_SCHEDULE_EXPRESSION = DEFAULT_DRILL_SCHEDULE.expressionString;

/** Validates an EventBridge Scheduler expression: cron(6 fields), rate(…) or at(…). */
export function scheduleExpression(key: string, v: unknown, problems: string[]): string | undefined {
  const example = 'e.g. "cron(0 4 * * ? *)" (04:00 UTC daily) or "rate(12 hours)"';
  if (typeof v !== 'string') {
    problems.push(`${key} must be a schedule expression string, ${example}; got ${show(v)}.`);
    return undefined;
  }
  const cron = /^cron\((.*)\)$/.exec(v.trim());
  if (cron) {
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== 6) {
      problems.push(
        `${key} ${show(v)} has ${fields.length} fields; EventBridge cron has 6 (minutes hours day-of-month month day-of-week year), ${example}.`,
      );
      return undefined;
    }
    if ((fields[2] === '?') === (fields[4] === '?')) {
      problems.push(`${key} ${show(v)}: exactly one of day-of-month (3rd field) and day-of-week (5th field) must be '?', ${example}.`);
      return undefined;
    }
    return v.trim();
  }
  if (/^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$/.test(v.trim()) || /^at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)$/.test(v.trim()))
    return v.trim();
  problems.push(`${key} ${show(v)} is not a schedule expression, ${example}.`);
  return undefined;
}

/** `schedule` with its minute moved by `offset`; a problem if the minute is not a plain number or passes 59. */
export function staggered(schedule: string, offset: number, problems: string[], index: number): string {
  const m = /^cron\((\d{1,2})(\s.*)\)$/.exec(schedule);
  if (!m) {
    problems.push(
      `staggerMinutes needs a schedule whose minute field is a plain number, e.g. "cron(0 4 * * ? *)", got ${show(schedule)}. Give databases[${index}].schedule instead.`,
    );
    return schedule;
  }
  const minute = Number(m[1]) + offset;
  if (minute > 59) {
    problems.push(
      `staggerMinutes puts databases[${index}] at minute ${minute}, past 59. Lower staggerMinutes or give databases[${index}].schedule.`,
    );
    return schedule;
  }
  return `cron(${minute}${m[2]})`;
}
