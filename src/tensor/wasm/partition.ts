/**
 * How a product is divided between threads: C is cut into contiguous slices of whole columns (or whole rows),
 * one per thread, each computed by an independent call of the wasm `gemm` on its part of A, B and C.
 *
 * Slices start on multiples of NR columns (or MR rows), so every thread sees the same grid of micro-tiles as a
 * single thread would; and since the value of an element never depends on which tile or call computes it
 * (see gemm_kernel.ts), the result is bit-identical for every thread count.
 *
 * Columns or rows? Each thread packs the whole of the operand it does not split: cutting columns makes every
 * thread pack all of A (m×k), cutting rows all of B (k×n). So we cut the longer side of C, which duplicates
 * the smaller operand.
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

export function planSlices(m: number, n: number, threads: number, { mr, nr }: TileShape): Slice[] {
  if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  const splitColumns = n >= m;
  const extent = splitColumns ? n : m;
  const unit = splitColumns ? nr : mr;
  const units = Math.ceil(extent / unit);
  const parts = Math.max(1, Math.min(threads, units));
  const slices: Slice[] = [];
  for (let t = 0; t < parts; t++) {
    // Units [⌊t·U/P⌋, ⌊(t+1)·U/P⌋): sizes differ by at most one unit.
    const start = Math.min(extent, Math.floor((t * units) / parts) * unit);
    const end = Math.min(extent, Math.floor(((t + 1) * units) / parts) * unit);
    if (end <= start) continue;
    slices.push(splitColumns ? { rowStart: 0, rows: m, colStart: start, cols: end - start } : { rowStart: start, rows: end - start, colStart: 0, cols: n });
  }
  return slices;
}
