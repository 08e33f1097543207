/** Resolves once `condition` holds (polled every 20 ms), or fails naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits, if needed, for the next minute, so that at least `seconds` remain in the current
 * UTC minute: runs started now share the minute a backup key is stamped with.
 */
export async function roomInThisMinute(seconds: number): Promise<void> {
  const left = 60 - new Date().getUTCSeconds() - new Date().getUTCMilliseconds() / 1000;
  if (left < seconds) await new Promise((r) => setTimeout(r, left * 1000 + 50));
}

/** The object key of a path-style S3 request URL (`/bucket/key?…`). */
export function keyOfRequest(url: string): string {
  return decodeURIComponent(new URL(url, 'http://x').pathname.split('/').slice(2).join('/'));
}
