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

const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/**
 * `schedule` started `offset` minutes later, as a person would move it: minutes roll over into
 * the hour, hours into the next day (a daily schedule stays daily, at the later time; a weekly
 * one moves to the next day of the week). A problem, naming the way out, when the expression's
 * fields are not plain enough to move (a minute or, on rollover, an hour that is not a number,
 * a day-of-week range, a day of the month that would pass the 28th).
 */
export function staggered(schedule: string, offset: number, problems: string[], index: number): string {
  const refuse = (why: string) => {
    problems.push(
      `staggerMinutes cannot move ${show(schedule)} for databases[${index}]: ${why}. Give databases[${index}].schedule instead.`,
    );
    return schedule;
  };
  const m = /^cron\(\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*\)$/.exec(schedule);
  if (!m || !/^\d{1,2}$/.test(m[1]))
    return refuse('it needs a cron expression whose minute field is a plain number, e.g. "cron(0 4 * * ? *)"');
  const [, minuteField, hourField, dom, month, dow, year] = m;
  const total = Number(minuteField) + offset;
  const minute = total % 60;
  if (total < 60) return `cron(${minute} ${hourField} ${dom} ${month} ${dow} ${year})`;
  if (!/^\d{1,2}$/.test(hourField))
    return refuse(`minute ${total} passes the hour, and its hour field ${show(hourField)} is not a plain number`);
  const hours = Number(hourField) + Math.floor(total / 60);
  const hour = hours % 24;
  const days = Math.floor(hours / 24);
  let dayOfMonth = dom;
  let dayOfWeek = dow;
  if (days > 0 && dow !== '?' && dow !== '*') {
    const moved = dow.split(',').map((d) => {
      const i = /^\d$/.test(d) ? Number(d) - 1 : DAYS.indexOf(d.toUpperCase());
      return i < 0 || i > 6 ? undefined : DAYS[(i + days) % 7];
    });
    if (moved.includes(undefined)) return refuse(`it passes midnight, and its day-of-week field ${show(dow)} is not a list of days`);
    dayOfWeek = moved.join(',');
  } else if (days > 0 && dom !== '*' && dom !== '?') {
    if (!/^\d{1,2}$/.test(dom) || Number(dom) + days > 28)
      return refuse(`it passes midnight, and its day of the month ${show(dom)} cannot move ${days} day(s) in every month`);
    dayOfMonth = String(Number(dom) + days);
  }
  return `cron(${minute} ${hour} ${dayOfMonth} ${month} ${dayOfWeek} ${year})`;
}
