import { accessSync, constants, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { NotifyConfig } from '../notify';
import { ParsedInput } from './parse';

/**
 * Problems with a receiver's URL, worded without it (it holds a token): it must be an absolute
 * http(s) URL without a user name or password (services put their token in the path; a
 * password in the URL would be sent as Basic authentication, and printed by careless tools).
 */
export function receiverUrlProblems(url: string, source: string): string[] {
  if (!URL.canParse(url))
    return [`${source} is not a URL (its value is not shown: it may hold a token). Example: https://hc-ping.com/<uuid>.`];
  const u = new URL(url);
  const problems: string[] = [];
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    problems.push(`${source} must be an http:// or https:// URL; got a ${u.protocol} URL.`);
  if (u.username !== '' || u.password !== '')
    problems.push(
      `${source} holds a user name or password (user:password@…), which is refused: use the URL the service gives, with its token in the path.`,
    );
  return problems;
}

/** Problems with the metrics file's path: a *.prom file (node_exporter reads no other) in a directory this user can write. */
export function metricsFileProblems(path: string, source: string): string[] {
  const dir = dirname(resolve(path));
  if (!basename(path).endsWith('.prom') || basename(path) === '.prom')
    return [`${source} '${path}' must be a file name ending in .prom: node_exporter's textfile collector reads only *.prom files.`];
  try {
    if (!statSync(dir).isDirectory()) return [`${source} '${path}': '${dir}' is not a directory.`];
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return [
      code === 'ENOENT'
        ? `${source} '${path}': the directory '${dir}' does not exist. Create it (node_exporter's --collector.textfile.directory) or choose another.`
        : `${source} '${path}': the directory '${dir}' is not writable by this user (${code ?? 'access denied'}): the file is replaced through a temporary file beside it.`,
    ];
  }
  try {
    if (statSync(path).isDirectory())
      return [`${source} '${path}' is a directory; name a file in it, e.g. ${path.replace(/\/+$/, '')}/pg-s3-backup.prom.`];
  } catch {
    // Not there yet: the first run creates it.
  }
  return [];
}

/** The notification settings of backup and verify, every problem appended; never prints a URL. */
export function notifyConfig(input: ParsedInput, problems: string[]): NotifyConfig {
  const v = input.values;
  const pingUrl = v.pingUrl;
  if (pingUrl !== undefined) problems.push(...receiverUrlProblems(pingUrl, input.sources.pingUrl ?? '--ping-url'));
  const webhookUrls = v.webhookUrls ?? [];
  webhookUrls.forEach((url, i) => {
    const source = input.sources.webhookUrls ?? '--webhook-url';
    problems.push(...receiverUrlProblems(url, webhookUrls.length > 1 ? `${source} (URL ${i + 1} of ${webhookUrls.length})` : source));
  });
  const metricsFile = v.metricsFile;
  if (metricsFile !== undefined) problems.push(...metricsFileProblems(metricsFile, input.sources.metricsFile ?? '--metrics-file'));
  return { pingUrl, webhookUrls, metricsFile, timeoutSeconds: v.notifyTimeoutSeconds };
}
