/**
 * Selections shared by several architectures: the k·B largest activations of a whole batch (BatchTopK, and
 * JumpReLU's data-driven initial threshold), and each row's latents above per-latent thresholds (the JumpReLU
 * inference form, which BatchTopK SAEs are exported as).
 */
import type { LatentCode } from "./latent_code.ts";
import type { SparseCode } from "./sae_types.ts";

/**
 * A SparseCode from per-row lists of active latents: entries sorted by descending value (ties: lower latent),
 * rows padded to the widest with value-0 entries at the lowest latents not active in that row.
 */
export function variableWidthCode(rows: number, dSae: number, active: (r: number, emit: (j: number, v: number) => void) => void): SparseCode {
  const lists: { j: number[]; v: number[] }[] = [];
  let width = 0;
  for (let r = 0; r < rows; r++) {
    const list = { j: [] as number[], v: [] as number[] };
    active(r, (j, v) => { list.j.push(j); list.v.push(v); });
    width = Math.max(width, list.j.length);
    lists.push(list);
  }
  const indices = new Int32Array(rows * width), values = new Float32Array(rows * width);
  const used = new Uint8Array(dSae);
  for (let r = 0; r < rows; r++) {
    const { j, v } = lists[r]!;
    const order = j.map((_, i) => i).sort((a, b) => v[b]! - v[a]! || j[a]! - j[b]!);
    order.forEach((i, s) => { indices[r * width + s] = j[i]!; values[r * width + s] = v[i]!; used[j[i]!] = 1; });
    let next = 0;
    for (let s = j.length; s < width; s++) {
      while (used[next]) next++;
      indices[r * width + s] = next++;
    }
    for (const latent of j) used[latent] = 0;
  }
  return { rows, k: width, indices, values };
}


const SIGN = 0x80000000;

/**
 * The `count` largest positive values of pre [rows, n] into `code` (all positive values if there are fewer),
 * ties broken toward the lower flat index. Radix selection on the float bits (positive float32s order like
 * their bit patterns), usually in ONE pass over the batch: a histogram of every SAMPLE_STRIDE-th value's top 16
 * bits gives a lower bound that about 1.25× count values clear; the pass emits every value at or above it; the
 * candidates are then cut to the exact count (largest first, ties to the lower flat index) inside the code. If
 * the bound kept too few (a skewed batch), a histogram of the whole batch finds the exact boundary bucket and a
 * second pass emits from there. Either way the result is the exact selection. Returns the smallest kept value (0
 * when nothing is positive).
 */
export function selectBatchTopK(pre: Float32Array, rows: number, n: number, count: number, code: LatentCode): number {
  const total = rows * n;
  const bits = new Uint32Array(pre.buffer, pre.byteOffset, total);
  const high = new Uint32Array(65536);
  // Lower bound from a sample: the bucket at which the sample's running count reaches 1.25·count/stride + 64.
  for (let i = 0; i < total; i += SAMPLE_STRIDE) {
    const b = bits[i]!;
    if (b !== 0 && b < SIGN) high[b >>> 16]!++;
  }
  const want = (1.25 * count) / SAMPLE_STRIDE + 64;
  let bucket = 65535, seen = 0;
  while (bucket > 0 && seen + high[bucket]! < want) seen += high[bucket--]!;
  emitAtOrAbove(bits, pre, rows, n, Math.max(1, (bucket << 16) >>> 0), code);
  if (code.nnz < count && bucket > 0) {
    // Too few candidates: exact boundary bucket from the whole batch's histogram.
    high.fill(0);
    let positives = 0;
    for (let i = 0; i < total; i++) {
      const b = bits[i]!;
      if (b === 0 || b >= SIGN) continue;
      high[b >>> 16]!++;
      positives++;
    }
    bucket = 0;
    if (positives > count) {
      let above = 0;
      bucket = 65535;
      while (above + high[bucket]! < count) above += high[bucket--]!;
    }
    emitAtOrAbove(bits, pre, rows, n, Math.max(1, (bucket << 16) >>> 0), code);
  }
  if (code.nnz > count) cutToCount(code, rows, count);
  let smallest = Infinity;
  for (let e = 0; e < code.nnz; e++) if (code.val[e]! < smallest) smallest = code.val[e]!;
  return smallest === Infinity ? 0 : smallest;
}

/** Every 16th value of the batch estimates where its top values start. */
const SAMPLE_STRIDE = 16;

/** Every positive value whose bits are ≥ minBits, row by row, into the code. */
function emitAtOrAbove(bits: Uint32Array, pre: Float32Array, rows: number, n: number, minBits: number, code: LatentCode): void {
  code.reset(rows);
  for (let r = 0; r < rows; r++) {
    code.reserve(n);
    for (let j = 0; j < n; j++) {
      const b = bits[r * n + j]!;
      if (b >= minBits && b < SIGN) code.push(j, pre[r * n + j]!);
    }
    code.endRow(r);
  }
}

/** Keep the `count` largest entries of the code (ties: earlier entries, i.e. lower flat index), compacting it. */
function cutToCount(code: LatentCode, rows: number, count: number): void {
  const valBits = new Uint32Array(code.val.buffer, code.val.byteOffset, code.nnz);
  const high = new Uint32Array(65536);
  for (let e = 0; e < code.nnz; e++) high[valBits[e]! >>> 16]!++;
  let above = 0, bucket = 65535;
  while (above + high[bucket]! < count) above += high[bucket--]!;
  const boundary: number[] = [];
  for (let e = 0; e < code.nnz; e++) if (valBits[e]! >>> 16 === bucket) boundary.push(valBits[e]!);
  boundary.sort((a, b) => b - a);
  const keep = count - above;
  const cut = boundary[keep - 1]!;
  let ties = keep - boundary.filter((b) => b > cut).length;
  let w = 0, e = 0;
  for (let r = 0; r < rows; r++) {
    const end = code.rowPtr[r + 1]!;
    for (; e < end; e++) {
      const b = valBits[e]!;
      const hi = b >>> 16;
      if (hi < bucket || (hi === bucket && (b < cut || (b === cut && ties-- <= 0)))) continue;
      code.idx[w] = code.idx[e]!;
      code.val[w] = code.val[e]!;
      w++;
    }
    code.rowPtr[r + 1] = w;
  }
  code.nnz = w;
}

/** Each row's latents with pre > θ (per-latent thresholds), values ReLU(pre) as SAELens computes them. */
export function thresholdCode(pre: Float32Array, rows: number, threshold: Float32Array): SparseCode {
  const n = threshold.length;
  return variableWidthCode(rows, n, (r, emit) => {
    for (let j = 0; j < n; j++) {
      const v = pre[r * n + j]!;
      if (v > threshold[j]! && v > 0) emit(j, v);
    }
  });
}

