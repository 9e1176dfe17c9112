/** Where training rows come from: any store that can copy row i into a buffer (in memory, chunked on disk, …). */
export interface RowSource {
  readonly rows: number;
  readonly dIn: number;
  /** Copy row `index` (dIn floats) into `target` at `offset`. */
  copyRow(index: number, target: Float32Array, offset: number): void;
}

/** Rows held in one Float32Array [rows, dIn]. */
export function arrayRows(data: Float32Array, dIn: number): RowSource {
  if (dIn <= 0 || data.length % dIn !== 0) throw new Error(`arrayRows: ${data.length} values do not divide into rows of ${dIn}`);
  return {
    rows: data.length / dIn,
    dIn,
    copyRow(index, target, offset) {
      target.set(data.subarray(index * dIn, (index + 1) * dIn), offset);
    },
  };
}

/** Rows spread over several arrays (e.g. one per activation-cache chunk), addressed as one sequence. */
export function chunkedRows(chunks: Float32Array[], dIn: number): RowSource {
  const starts: number[] = [];
  let total = 0;
  for (const c of chunks) {
    if (c.length % dIn !== 0) throw new Error(`chunkedRows: a chunk of ${c.length} values is not a whole number of rows of ${dIn}`);
    starts.push(total);
    total += c.length / dIn;
  }
  return {
    rows: total,
    dIn,
    copyRow(index, target, offset) {
      // Binary search for the chunk holding this row.
      let lo = 0, hi = chunks.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= index) lo = mid;
        else hi = mid - 1;
      }
      const local = index - starts[lo]!;
      target.set(chunks[lo]!.subarray(local * dIn, (local + 1) * dIn), offset);
    },
  };
}

/** A subset of another source's rows, in the given order. */
export function selectRows(source: RowSource, indices: Int32Array | Uint32Array): RowSource {
  return {
    rows: indices.length,
    dIn: source.dIn,
    copyRow(index, target, offset) {
      source.copyRow(indices[index]!, target, offset);
    },
  };
}
