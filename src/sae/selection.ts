/**
 * Selections shared by several architectures: the k·B largest activations of a whole batch (BatchTopK, and
 * JumpReLU's data-driven initial threshold), and each row's latents above per-latent thresholds (the JumpReLU
 * inference form, which BatchTopK SAEs are exported as).
 */
import type { LatentCode } from "./latent_code.ts";
import type { SparseCode } from "./sae.ts";

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
 * their bit patterns): a histogram of the top 16 bits finds the bucket of the count-th largest, a second
 * histogram of that bucket's low bits the exact value, a third pass emits the entries. Returns the smallest
 * kept value (0 when nothing is positive).
 */
export function selectBatchTopK(pre: Float32Array, rows: number, n: number, count: number, code: LatentCode): number {
  const total = rows * n;
  const bits = new Uint32Array(pre.buffer, pre.byteOffset, total);
  const high = new Uint32Array(65536);
  let positives = 0;
  for (let i = 0; i < total; i++) {
    const b = bits[i]!;
    if (b === 0 || b >= SIGN) continue; // zero, negative (or −0)
    high[b >>> 16]!++;
    positives++;
  }
  let cut = 1; // keep bits > cut, and the first `tiesToKeep` equal to cut
  let tiesToKeep = 0;
  if (positives > count) {
    let above = 0, bucket = 65535;
    while (above + high[bucket]! < count) above += high[bucket--]!;
    const low = new Uint32Array(65536);
    for (let i = 0; i < total; i++) if (bits[i]! >>> 16 === bucket && bits[i]! < SIGN) low[bits[i]! & 0xffff]!++;
    let lowBits = 65535;
    while (above + low[lowBits]! < count) above += low[lowBits--]!;
    cut = ((bucket << 16) | lowBits) >>> 0;
    tiesToKeep = count - above;
  } else {
    cut = 0;
  }
  code.reset(rows);
  code.reserve(Math.min(count, positives));
  let smallest = Infinity;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      const b = bits[r * n + j]!;
      if (b >= SIGN || b === 0) continue;
      if (b > cut || (b === cut && tiesToKeep-- > 0)) {
        const v = pre[r * n + j]!;
        code.push(j, v);
        if (v < smallest) smallest = v;
      }
    }
    code.endRow(r);
  }
  return smallest === Infinity ? 0 : smallest;
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

