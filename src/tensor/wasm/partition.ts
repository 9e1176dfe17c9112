/**
 * How a product is divided between threads: C is cut into tasks — contiguous slices of whole columns (or whole
 * rows), each computed by an independent call of the wasm `gemm` — and the threads take tasks from a shared
 * counter until none are left (./threads.ts). A few tasks per thread keep every core busy to the end even when
 * one of them is slowed down by another process; more would repeat too much packing (below).
 *
 * Slices start on multiples of NR columns (or MR rows), so every task sees the same grid of micro-tiles as a
 * single call would; and since the value of an element never depends on which tile or call computes it
 * (see gemm_kernel.ts), the result is bit-identical for every thread count and whichever thread runs a task.
 *
 * Columns or rows? Each task packs the whole of the operand it does not split: cutting columns makes every
 * task pack all of A (m×k), cutting rows all of B (k×n). So we cut the longer side of C, which repeats the
 * packing of the smaller operand, and keep tasks at least MIN_TASK_EXTENT wide so that packing stays a few
 * percent of the task's arithmetic.
 */

export interface Slice {
  rowStart: number;
  rows: number;
  colStart: number;
  cols: number;
}

export interface TileShape {
  mr: number;
  nr: number;
}

/** Tasks per thread when C is large enough. */
export const TASKS_PER_THREAD = 4;
/** Narrowest task (columns or rows) worth its own packing of the other operand, unless that leaves a thread idle. */
export const MIN_TASK_EXTENT = 256;

/** Cut C along its longer side into at most `parts` slices of whole tiles, sizes differing by at most one tile. */
export function planSlices(m: number, n: number, parts: number, { mr, nr }: TileShape): Slice[] {
  if (!Number.isSafeInteger(parts) || parts < 1) throw new RangeError(`parts must be a positive integer, got ${parts}`);
  const splitColumns = n >= m;
  const extent = splitColumns ? n : m;
  const unit = splitColumns ? nr : mr;
  const units = Math.ceil(extent / unit);
  const count = Math.max(1, Math.min(parts, units));
  const slices: Slice[] = [];
  for (let t = 0; t < count; t++) {
    // Units [⌊t·U/P⌋, ⌊(t+1)·U/P⌋) of the U whole-tile units.
    const start = Math.min(extent, Math.floor((t * units) / count) * unit);
    const end = Math.min(extent, Math.floor(((t + 1) * units) / count) * unit);
    if (end <= start) continue;
    slices.push(splitColumns ? { rowStart: 0, rows: m, colStart: start, cols: end - start } : { rowStart: start, rows: end - start, colStart: 0, cols: n });
  }
  return slices;
}

/** The tasks for `threads` threads: one for a single thread, else up to TASKS_PER_THREAD per thread. */
export function planTasks(m: number, n: number, threads: number, tile: TileShape): Slice[] {
  if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  if (threads === 1) return planSlices(m, n, 1, tile);
  const extent = Math.max(m, n);
  const wide = Math.floor(extent / MIN_TASK_EXTENT); // tasks that would each be at least MIN_TASK_EXTENT long
  const parts = Math.max(threads, Math.min(threads * TASKS_PER_THREAD, wide));
  return planSlices(m, n, parts, tile);
}
