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
 * Three implementations of each product: the sparse WebAssembly SIMD kernels (./sparse_wasm.ts; d
 * multiply-adds per entry, four lanes at a time), the same loops in scalar TypeScript (float64 sums — where there
 * is no WebAssembly SIMD, or SAE_SEEDS_MATMUL forces the scalar matmul), and dense products through the matmul
 * kernel on the [rows, d_sae] matrix of codes (d multiply-adds per (row, latent), all threads). The choice
 * depends only on the code's density and on the machine's kernels — never on the thread count — so a step is a
 * pure function of its inputs and stays bit-reproducible.
 */
import { matmul, matmulKernelName } from "../tensor/matmul.ts";
import { sparseWasmAvailable, type WasmArena } from "./sparse_wasm.ts";
import { KernelArgumentError } from "../tensor/wasm/kernel_guard.ts";

/**
 * Codes at least this dense (entries / (rows·d_sae)) take the dense path. Scalar loops: measured on one thread,
 * at density 1/16 (n 512, k 32) dense was 1.1–1.25× faster, at 1/32 sparse 1.15–1.3× faster. WebAssembly loops:
 * see WASM_DENSE_DENSITY.
 */
export const DENSE_DENSITY = 1 / 16;
export const WASM_DENSE_DENSITY = 1 / 4;

/** What the products need from the step's workspace. */
export interface ProductContext {
  /** "auto" picks dense or sparse by density; tests force one. */
  readonly path: LatentPath;
  readonly dense: DenseScratch;
  /** The WebAssembly kernels and their memory, or null for the scalar loops. */
  readonly arena: WasmArena | null;
  /** The step's copy of a parameter tensor in the arena (made on first use in a step). */
  inArena(a: Float32Array): Float32Array;
}

/** Whether the WebAssembly kernels are used: available, and the matmul kernel is the WebAssembly one. */
export function useWasmKernels(): boolean {
  return sparseWasmAvailable() && matmulKernelName().startsWith("wasm-simd"); // wasm-simd or the opt-in wasm-simd-relaxed
}

export type LatentPath = "auto" | "dense" | "sparse";

export class LatentCode {
  rows = 0;
  nnz = 0;
  readonly rowPtr: Int32Array;
  idx: Int32Array;
  val: Float32Array;
  grad: Float32Array;
  /**
   * Latent-major index (buildLatentIndex), in blocks of `blockRows` rows: the entries of latent j among rows
   * [b·blockRows, (b+1)·blockRows) are byLatent[colPtr[b·d_sae + j] .. colPtr[b·d_sae + j + 1]), rows ascending.
   * A latent's entries over the whole batch are therefore visited in row order, block after block, whatever
   * the block size (which only decides how much of the batch a pass keeps in cache).
   */
  colPtr: Int32Array;
  byLatent: Int32Array;
  rowOf: Int32Array;
  blockRows = 0;
  blocks = 0;
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

  /**
   * Start a new batch of `rows` rows, every row empty. The row pointers are cleared, not only the first: a code
   * reset and then left unfilled (AuxK when no latent is dead this step) must read as empty, not as the previous
   * batch's rows (which once sent the latent-major kernels past their staged entries).
   */
  reset(rows: number): void {
    if (rows + 1 > this.rowPtr.length) throw new RangeError(`a latent code sized for ${this.rowPtr.length - 1} rows cannot hold ${rows}`);
    this.rows = rows;
    this.nnz = 0;
    this.rowPtr.fill(0, 0, rows + 1);
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

  /** Counting sort of the entries by (row block, latent), stable: rows stay ascending. */
  buildLatentIndex(blockRows = latentBlockRows(this)): void {
    if (this.indexed && blockRows === this.blockRows) return;
    const n = this.dSae;
    const blocks = Math.max(1, Math.ceil(this.rows / blockRows));
    if (this.colPtr.length < blocks * n + 1) this.colPtr = new Int32Array(blocks * n + 1);
    const { colPtr, rowPtr, idx, byLatent, rowOf } = this;
    colPtr.fill(0, 0, blocks * n + 1);
    for (let r = 0; r < this.rows; r++) {
      const base = Math.floor(r / blockRows) * n + 1;
      for (let e = rowPtr[r]!; e < rowPtr[r + 1]!; e++) colPtr[base + idx[e]!]!++;
    }
    for (let v = 0; v < blocks * n; v++) colPtr[v + 1]! += colPtr[v]!;
    const next = colPtr.slice(0, blocks * n);
    for (let r = 0; r < this.rows; r++) {
      const base = Math.floor(r / blockRows) * n;
      for (let e = rowPtr[r]!; e < rowPtr[r + 1]!; e++) {
        byLatent[next[base + idx[e]!]!++] = e;
        rowOf[e] = r;
      }
    }
    this.blockRows = blockRows;
    this.blocks = blocks;
    this.indexed = true;
  }

  /** Visit every entry grouped by latent, each latent's entries in row order (block by block). */
  forEachByLatent(visit: (j: number, e: number) => void): void {
    this.buildLatentIndex();
    const { colPtr, byLatent } = this;
    const n = this.dSae;
    for (let b = 0; b < this.blocks; b++) {
      for (let j = 0; j < n; j++) {
        for (let q = colPtr[b * n + j]!; q < colPtr[b * n + j + 1]!; q++) visit(j, byLatent[q]!);
      }
    }
  }
}

/**
 * Rows per block of the latent-major passes. A pass streams the block's rows of g (or x̃) once per active latent
 * and each active latent's gradient row once per block, so blocks should hold a few entries per latent (here
 * ~BLOCK_ENTRIES_PER_LATENT on average) while staying small enough to be cached. Measured (d 768, batch 4096,
 * k 32, one thread): blocks of 64/256/512–1024 rows at n 512/2048/8192 ran the two passes 1.5–2.5× faster than
 * one block of the whole batch; 2–4 entries per latent per block was the best range at every n.
 */
export const BLOCK_ENTRIES_PER_LATENT = 4;
export function latentBlockRows(code: LatentCode): number {
  const perRow = code.nnz / Math.max(1, code.rows);
  if (perRow === 0) return Math.max(1, code.rows);
  const want = Math.ceil((BLOCK_ENTRIES_PER_LATENT * code.dSae) / perRow);
  return Math.max(64, Math.min(code.rows, 64 * Math.ceil(want / 64)));
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

function useDense(code: LatentCode, ctx: ProductContext): boolean {
  return ctx.path === "dense" || (ctx.path === "auto" && code.density() >= (ctx.arena ? WASM_DENSE_DENSITY : DENSE_DENSITY));
}

/**
 * The arena, or null for the scalar loops. With an arena every array given must live in it: the path a product takes
 * must depend only on the code's density and the machine (see the header), never on where a buffer happened to be
 * allocated, so an array outside the arena is a programming error, not a reason to fall back silently.
 */
function arenaFor(ctx: ProductContext, ...arrays: [string, Float32Array | null][]): WasmArena | null {
  const arena = ctx.arena;
  if (!arena) return null;
  for (const [name, a] of arrays) {
    if (a !== null && !arena.owns(a)) throw new KernelArgumentError(`sparse products: ${name} (${a.length} values) is not in the kernels' memory; allocate it with the step workspace (ws.buffer)`);
  }
  return arena;
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
export function decode(code: LatentCode, wDec: Float32Array, d: number, bias: Float32Array | null, out: Float32Array, ctx: ProductContext): void {
  const rows = code.rows;
  const dense = useDense(code, ctx);
  const arena = dense ? null : arenaFor(ctx, ["out", out]);
  if (arena) {
    arena.decodeRows({
      rows, d, rowPtr: code.rowPtr.subarray(0, rows + 1), idx: code.idx.subarray(0, code.nnz), val: code.val.subarray(0, code.nnz),
      w: ctx.inArena(wDec), bias: bias ? ctx.inArena(bias) : null, out,
    });
    return;
  }
  if (bias) for (let r = 0; r < rows; r++) out.set(bias, r * d);
  else out.fill(0, 0, rows * d);
  if (dense) {
    const [z] = ctx.dense.get(rows * code.dSae);
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
  ctx: ProductContext, gRow?: Int32Array,
): void {
  const rows = code.rows, n = code.dSae;
  const dense = !gRow && useDense(code, ctx);
  const arena = dense ? null : arenaFor(ctx, ["g", g], ["gradWDec", gradWDec]);
  if (arena) {
    code.buildLatentIndex();
    const nnz = code.nnz;
    arena.latentDotAxpy({
      blocks: code.blocks, n, d, colPtr: code.colPtr.subarray(0, code.blocks * n + 1), byLatent: code.byLatent.subarray(0, nnz),
      gRow: (gRow ?? code.rowOf).subarray(0, nnz), val: code.val.subarray(0, nnz), grad: code.grad.subarray(0, nnz),
      g, w: ctx.inArena(wDec), gradW: gradWDec,
    });
    return;
  }
  if (dense) {
    const [z, dz] = ctx.dense.get(rows * n);
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
  for (let v = 0; v < code.blocks * n; v++) {
    const w = (v % n) * d;
    for (let q = colPtr[v]!; q < colPtr[v + 1]!; q++) {
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
  ctx: ProductContext,
): void {
  const rows = code.rows, n = code.dSae;
  code.forEachByLatent((j, e) => { dpreSum[j] += code.grad[e]!; });
  const { colPtr, byLatent, rowOf, grad } = code;
  const dense = useDense(code, ctx);
  const arena = dense ? null : arenaFor(ctx, ["input", input], ["gradWEnc", gradWEnc]);
  if (arena) {
    const nnz = code.nnz;
    arena.latentAxpy({
      blocks: code.blocks, n, d, colPtr: colPtr.subarray(0, code.blocks * n + 1), byLatent: byLatent.subarray(0, nnz),
      rowOf: rowOf.subarray(0, nnz), coef: grad.subarray(0, nnz), x: input, acc: gradWEnc,
    });
    return;
  }
  if (dense) {
    const [dp] = ctx.dense.get(rows * n);
    scatterDense(code, grad, dp);
    matmul({ a: dp, b: input, c: gradWEnc, m: n, n: d, k: rows, transA: true, accumulate: true });
    return;
  }
  for (let v = 0; v < code.blocks * n; v++) {
    const w = (v % n) * d;
    for (let q = colPtr[v]!; q < colPtr[v + 1]!; q++) {
      const e = byLatent[q]!;
      const dp = grad[e]!;
      if (dp === 0) continue;
      const xo = rowOf[e]! * d;
      for (let c = 0; c < d; c++) gradWEnc[w + c] += dp * input[xo + c]!;
    }
  }
}
