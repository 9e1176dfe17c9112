/**
 * A batch's active latents as a sparse matrix, and the three products every architecture's step is made of.
 *
 * LatentCode holds, for each row of a batch, the latents an architecture keeps (CSR: rowPtr, idx) with their
 * activation `val` and one gradient slot `grad` per entry (∂L/∂z after backwardDecoder, then overwritten by the
 * architecture with ∂L/∂pre). An entry may have val = 0 (JumpReLU keeps latents just below their threshold, whose
 * threshold gradient needs ∂L/∂z); such entries cost a dot product but add nothing to the reconstruction.
 *
 *   decode            out[r]  = bias + Σ_e val_e·W_dec[j_e]                      (row by row)
 *   backwardDecoder   grad_e  = g[r_e]·W_dec[j_e];  ∂W_dec[j] += Σ_e val_e·g[r_e]   (latent by latent)
 *   backwardEncoder   ∂W_enc[j] += Σ_e grad_e·x̃[r_e];  dpreSum[j] += Σ_e grad_e     (latent by latent)
 *
 * The gradient sums run latent by latent over that latent's entries in row order (a CSC index built once per
 * code), so every sum has one fixed order, whichever kernel or thread computes it.
 *
 * Two implementations of each product: sparse loops over the entries (d multiply-adds per entry), and dense
 * products through the matmul kernel on the [rows, d_sae] matrix of codes (d multiply-adds per (row, latent),
 * ~40× faster per operation). The choice depends only on the code's density (DENSE_DENSITY), so a step is a pure
 * function of its inputs and stays bit-reproducible.
 */
import { matmul } from "../tensor/matmul.ts";

/**
 * Codes at least this dense (entries / (rows·d_sae)) take the dense path. Measured on one thread with the
 * scalar loops: at density 1/16 (n 512, k 32) dense was 1.1–1.25× faster, at 1/32 sparse 1.15–1.3× faster.
 */
export const DENSE_DENSITY = 1 / 16;

export type LatentPath = "auto" | "dense" | "sparse";

export class LatentCode {
  rows = 0;
  nnz = 0;
  readonly rowPtr: Int32Array;
  idx: Int32Array;
  val: Float32Array;
  grad: Float32Array;
  /** CSC index (buildLatentIndex): the entries of latent j are byLatent[colPtr[j] .. colPtr[j+1]), rows ascending. */
  readonly colPtr: Int32Array;
  byLatent: Int32Array;
  rowOf: Int32Array;
  private indexed = false;

  constructor(readonly dSae: number, maxRows: number, capacity = 0) {
    this.rowPtr = new Int32Array(maxRows + 1);
    this.colPtr = new Int32Array(dSae + 1);
    this.idx = new Int32Array(capacity);
    this.val = new Float32Array(capacity);
    this.grad = new Float32Array(capacity);
    this.byLatent = new Int32Array(capacity);
    this.rowOf = new Int32Array(capacity);
  }

  /** Start a new batch of `rows` rows. */
  reset(rows: number): void {
    this.rows = rows;
    this.nnz = 0;
    this.rowPtr[0] = 0;
    this.indexed = false;
  }

  /** Make room for `extra` more entries. */
  reserve(extra: number): void {
    const need = this.nnz + extra;
    if (need <= this.idx.length) return;
    const cap = Math.max(need, Math.ceil(this.idx.length * 1.5), 1024);
    const grow = <T extends Int32Array | Float32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, this.nnz));
      return b;
    };
    this.idx = grow(this.idx, (n) => new Int32Array(n));
    this.val = grow(this.val, (n) => new Float32Array(n));
    this.grad = grow(this.grad, (n) => new Float32Array(n));
    this.byLatent = new Int32Array(cap);
    this.rowOf = new Int32Array(cap);
  }

  /** Append an entry to the current row (call reserve first). */
  push(j: number, v: number): void {
    this.idx[this.nnz] = j;
    this.val[this.nnz] = v;
    this.nnz++;
  }

  /** Close row r (rows are filled in order). */
  endRow(r: number): void {
    this.rowPtr[r + 1] = this.nnz;
  }

  density(): number {
    return this.rows === 0 ? 0 : this.nnz / (this.rows * this.dSae);
  }

  /** Counting sort of the entries by latent (stable: rows stay ascending within a latent). */
  buildLatentIndex(): void {
    if (this.indexed) return;
    const { colPtr, rowPtr, idx, byLatent, rowOf } = this;
    colPtr.fill(0);
    for (let e = 0; e < this.nnz; e++) colPtr[idx[e]! + 1]!++;
    for (let j = 0; j < this.dSae; j++) colPtr[j + 1]! += colPtr[j]!;
    const next = colPtr.slice(0, this.dSae);
    for (let r = 0; r < this.rows; r++) {
      for (let e = rowPtr[r]!; e < rowPtr[r + 1]!; e++) {
        const j = idx[e]!;
        byLatent[next[j]!++] = e;
        rowOf[e] = r;
      }
    }
    this.indexed = true;
  }
}

/** Scratch for the dense path: two [rows, d_sae] matrices, allocated on first use. */
export class DenseScratch {
  private a = new Float32Array(0);
  private b = new Float32Array(0);
  get(size: number): [Float32Array, Float32Array] {
    if (this.a.length < size) {
      this.a = new Float32Array(size);
      this.b = new Float32Array(size);
    }
    return [this.a, this.b];
  }
}

function useDense(code: LatentCode, path: LatentPath): boolean {
  return path === "dense" || (path === "auto" && code.density() >= DENSE_DENSITY);
}

/** The code as a dense [rows, d_sae] matrix of `values` (zeros elsewhere). */
function scatterDense(code: LatentCode, values: Float32Array, out: Float32Array): void {
  const n = code.dSae;
  out.fill(0, 0, code.rows * n);
  for (let r = 0; r < code.rows; r++) {
    for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) out[r * n + code.idx[e]!] = values[e]!;
  }
}

/** out[r] = bias + Σ_e val_e·W_dec[j_e] for every row (bias null: no bias). */
export function decode(code: LatentCode, wDec: Float32Array, d: number, bias: Float32Array | null, out: Float32Array, path: LatentPath, scratch: DenseScratch): void {
  const rows = code.rows;
  if (bias) for (let r = 0; r < rows; r++) out.set(bias, r * d);
  else out.fill(0, 0, rows * d);
  if (useDense(code, path)) {
    const [z] = scratch.get(rows * code.dSae);
    scatterDense(code, code.val, z);
    matmul({ a: z, b: wDec, c: out, m: rows, n: d, k: code.dSae, accumulate: true });
    return;
  }
  const { rowPtr, idx, val } = code;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    for (let e = rowPtr[r]!; e < rowPtr[r + 1]!; e++) {
      const z = val[e]!;
      if (z === 0) continue;
      const w = idx[e]! * d;
      for (let c = 0; c < d; c++) out[o + c] += z * wDec[w + c]!;
    }
  }
}

/**
 * grad_e = g[r_e]·W_dec[j_e] for every entry; and, when gradWDec is given, ∂W_dec[j] += Σ_e val_e·g[r_e].
 * `gRow` maps an entry to its row of g (default: the entry's own row; Matryoshka points entries at the
 * gradient of their nesting level).
 */
export function backwardDecoder(
  code: LatentCode, g: Float32Array, wDec: Float32Array, d: number, gradWDec: Float32Array | null,
  path: LatentPath, scratch: DenseScratch, gRow?: Int32Array,
): void {
  const rows = code.rows, n = code.dSae;
  if (!gRow && useDense(code, path)) {
    const [z, dz] = scratch.get(rows * n);
    if (gradWDec) {
      scatterDense(code, code.val, z);
      matmul({ a: z, b: g, c: gradWDec, m: n, n: d, k: rows, transA: true, accumulate: true });
    }
    matmul({ a: g, b: wDec, c: dz, m: rows, n, k: d, transB: true });
    for (let r = 0; r < rows; r++) {
      for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) code.grad[e] = dz[r * n + code.idx[e]!]!;
    }
    return;
  }
  code.buildLatentIndex();
  const { colPtr, byLatent, rowOf, val, grad } = code;
  const tail = d - (d % 4);
  for (let j = 0; j < n; j++) {
    const w = j * d;
    for (let q = colPtr[j]!; q < colPtr[j + 1]!; q++) {
      const e = byLatent[q]!;
      const go = (gRow ? gRow[e]! : rowOf[e]!) * d;
      const z = val[e]!;
      // One pass over the row: the dot product (four partial sums, a fixed order) and ∂W_dec[j] += z·g.
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let c = 0;
      if (gradWDec && z !== 0) {
        for (; c < tail; c += 4) {
          const g0 = g[go + c]!, g1 = g[go + c + 1]!, g2 = g[go + c + 2]!, g3 = g[go + c + 3]!;
          s0 += g0 * wDec[w + c]!;
          s1 += g1 * wDec[w + c + 1]!;
          s2 += g2 * wDec[w + c + 2]!;
          s3 += g3 * wDec[w + c + 3]!;
          gradWDec[w + c] += z * g0;
          gradWDec[w + c + 1] += z * g1;
          gradWDec[w + c + 2] += z * g2;
          gradWDec[w + c + 3] += z * g3;
        }
        for (; c < d; c++) {
          s0 += g[go + c]! * wDec[w + c]!;
          gradWDec[w + c] += z * g[go + c]!;
        }
      } else {
        for (; c < tail; c += 4) {
          s0 += g[go + c]! * wDec[w + c]!;
          s1 += g[go + c + 1]! * wDec[w + c + 1]!;
          s2 += g[go + c + 2]! * wDec[w + c + 2]!;
          s3 += g[go + c + 3]! * wDec[w + c + 3]!;
        }
        for (; c < d; c++) s0 += g[go + c]! * wDec[w + c]!;
      }
      grad[e] = (s0 + s1) + (s2 + s3);
    }
  }
}

/** ∂W_enc[j] += Σ_e grad_e·input[r_e] and dpreSum[j] += Σ_e grad_e (grad now holding ∂L/∂pre). */
export function backwardEncoder(
  code: LatentCode, input: Float32Array, d: number, gradWEnc: Float32Array, dpreSum: Float32Array,
  path: LatentPath, scratch: DenseScratch,
): void {
  const rows = code.rows, n = code.dSae;
  code.buildLatentIndex();
  const { colPtr, byLatent, rowOf, grad } = code;
  for (let j = 0; j < n; j++) {
    for (let q = colPtr[j]!; q < colPtr[j + 1]!; q++) dpreSum[j] += grad[byLatent[q]!]!;
  }
  if (useDense(code, path)) {
    const [dp] = scratch.get(rows * n);
    scatterDense(code, grad, dp);
    matmul({ a: dp, b: input, c: gradWEnc, m: n, n: d, k: rows, transA: true, accumulate: true });
    return;
  }
  for (let j = 0; j < n; j++) {
    const w = j * d;
    for (let q = colPtr[j]!; q < colPtr[j + 1]!; q++) {
      const e = byLatent[q]!;
      const dp = grad[e]!;
      if (dp === 0) continue;
      const xo = rowOf[e]! * d;
      for (let c = 0; c < d; c++) gradWEnc[w + c] += dp * input[xo + c]!;
    }
  }
}
