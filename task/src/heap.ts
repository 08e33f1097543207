import { setFlagsFromString } from 'node:v8';

/**
 * How much V8 lets its heap limit grow after each full garbage collection, in percent.
 *
 * A backup moves every archive byte through Buffers: pipe reads, then lib-storage's copy into
 * each part. The JS heap stays near 11 MB, and with V8's own growth rule the freed Buffers
 * start a full collection every few dozen MB: about 17 per 177 MB of archive at `--jobs 2`,
 * 10 % of the process's CPU. At 200 % the bench measured about 10 % less CPU per GB and no
 * change in peak RSS; 400 % saves a little more but adds ~25 MB of RSS at `--jobs 2`
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
