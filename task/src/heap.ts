import { setFlagsFromString } from 'node:v8';

/**
 * How much V8 lets its heap limit grow after each full garbage collection, in percent.
 *
 * A backup moves every archive byte through Buffers: pipe reads, then lib-storage's copy into
 * each part. The JS heap stays near 11 MB, and with V8's own growth rule the freed Buffers
 * start a full collection every few dozen MB: 19 per 177 MB of archive at `--jobs 2`, 12 at
 * 200 %. The bench measured 11 % less CPU per GB with it (6.15 -> 5.49 s at `--jobs 2`) and
 * peak RSS within its runs' spread; 400 % saves a little more but adds ~25 MB of RSS
 * (docs/performance.md, "Node's CPU per GB").
 */
export const HEAP_GROWING_PERCENT = 200;

/**
 * Sets {@link HEAP_GROWING_PERCENT} unless node was started with its own
 * `--heap-growing-percent` (the bench's BENCH_NODE_FLAGS, or an operator's choice), which wins.
 * Called first thing, before the heap has grown. The flag only changes when V8 collects, never
 * what it keeps: every live object is kept whatever its value.
 */
export function tuneHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((a) => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
