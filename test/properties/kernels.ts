/**
 * Properties of every WebAssembly kernel against its scalar reference, over random shapes (odd sizes, shapes that
 * cross the GEMM's register tiles and cache blocks, empty rows, zero values), thread counts 1 and 2 — and of the
 * kernel-argument guard: a corrupted call is always one KernelArgumentError, never a trap or a silent write.
 * Shared by test/kernel_properties.test.ts (bounded) and tools/fuzz.ts (as long as asked).
 *
 *   matmulProperty     wasm GEMM (± GELU epilogue) vs the float64 product, within the float32 error bound; the
 *                      threaded result bit-identical to the single-thread one
 *   sparseProperty     decode / backwardDecoder / backwardEncoder: WebAssembly kernels vs the scalar loops vs the
 *                      dense matmul path
 *   softmaxProperty    the LM head's softmax-cross-entropy kernel vs float64
 *   guardProperty      decode_rows / latent_dot_axpy / latent_axpy given corrupted arguments
 */
import fc from "fast-check";
import type { MatmulArgs } from "../../src/tensor/matmul_types.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { geluScalar } from "../../src/tensor/det_math.ts";
import { setThreads, wasmMatmul, wasmMatmulGelu, wasmMatmulSingle } from "../../src/tensor/wasm/index.ts";
import { KernelArgumentError } from "../../src/tensor/wasm/kernel_guard.ts";
import { SoftmaxWorkspace } from "../../src/gpt2/train/softmax_kernel.ts";
import { defaultTrainConfig } from "../../src/sae/config.ts";
import { LatentCode, decode, backwardDecoder, backwardEncoder } from "../../src/sae/latent_code.ts";
import { StepWorkspace } from "../../src/sae/step.ts";
import { WasmArena } from "../../src/sae/sparse_wasm.ts";

const U = 2 ** -24;

/** A dimension: mostly small and odd, sometimes at or across a tile or block edge of the GEMM (MR 4, NR 8, MC 128, KC 384). */
const dimension = (edges: number[]): fc.Arbitrary<number> => fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 13 }) },
  { weight: 3, arbitrary: fc.integer({ min: 14, max: 80 }) },
  { weight: 1, arbitrary: fc.constantFrom(...edges) },
);

export interface MatmulCase {
  m: number; n: number; k: number;
  transA: boolean; transB: boolean; accumulate: boolean; gelu: boolean;
  threads: 1 | 2; seed: number;
}

export const matmulCase: fc.Arbitrary<MatmulCase> = fc.record({
  m: dimension([3, 4, 5, 127, 128, 129, 257]),
  n: dimension([7, 8, 9, 15, 16, 17, 2047, 2049]),
  k: dimension([383, 384, 385, 769]),
  transA: fc.boolean(), transB: fc.boolean(), accumulate: fc.boolean(), gelu: fc.boolean(),
  threads: fc.constantFrom(1 as const, 2 as const),
  seed: fc.nat(1_000_000),
}).filter((c) => c.m * c.n * c.k <= 3_000_000); // keeps the float64 reference quick

export function checkMatmulCase(c: MatmulCase): void {
  const { m, n, k, transA, transB, accumulate, gelu } = c;
  const rng = Rng.stream(c.seed, "properties/matmul");
  const a = rng.fillNormal(new Float32Array(m * k)) as Float32Array;
  const b = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
  const c0 = rng.fillNormal(new Float32Array(m * n)) as Float32Array;
  const args = (out: Float32Array): MatmulArgs => ({ a, b, c: out, m, n, k, transA, transB, accumulate });
  setThreads(c.threads);
  const got = c0.slice();
  (gelu ? wasmMatmulGelu : wasmMatmul)(args(got));
  const context = `${m}×${n}×${k} transA=${transA} transB=${transB} accumulate=${accumulate} gelu=${gelu} threads=${c.threads}`;
  if (!gelu) {
    const single = c0.slice();
    wasmMatmulSingle(args(single));
    for (let i = 0; i < m * n; i++) {
      if (!Object.is(single[i], got[i])) throw new Error(`${context}: element ${i} is ${got[i]} threaded, ${single[i]} on one thread`);
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let exact = accumulate ? c0[i * n + j]! : 0, magnitude = Math.abs(exact);
      for (let p = 0; p < k; p++) {
        const t = (transA ? a[p * m + i]! : a[i * k + p]!) * (transB ? b[j * k + p]! : b[p * n + j]!);
        exact += t;
        magnitude += Math.abs(t);
      }
      const bound = (k + 2) * U * magnitude;
      const v = got[i * n + j]!;
      if (gelu) {
        // GELU's slope is at most 1.13: the product's error passes through scaled by it, plus a few float32 ulps.
        const want = geluScalar(exact);
        const y = Math.min(88, Math.abs(2 * Math.sqrt(2 / Math.PI) * (exact + 0.044715 * exact ** 3)));
        const tol = 1.13 * bound + (1e-6 + 4 * (y + 1) * U) * Math.abs(want) + 1e-30;
        if (!(Math.abs(v - want) <= tol)) throw new Error(`${context}: C[${i},${j}] = ${v}, float64 GELU of the product ${want}`);
      } else if (!(Math.abs(v - exact) <= bound)) {
        throw new Error(`${context}: C[${i},${j}] = ${v}, float64 product ${exact}, error above the float32 bound ${bound}`);
      }
    }
  }
}

export interface SparseCase {
  rows: number; dSae: number; d: number;
  /** Chance that a (row, latent) pair is an entry; some rows end up empty. */
  density: number;
  /** Chance that an entry's value is exactly 0 (JumpReLU keeps such entries). */
  zeros: number;
  withBias: boolean; withGradW: boolean;
  /** Matryoshka's form: entries point at other rows of g. */
  remapRows: boolean;
  seed: number;
}

export const sparseCase: fc.Arbitrary<SparseCase> = fc.record({
  rows: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 300 })),
  dSae: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 200 })),
  d: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 70 })),
  density: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true }), fc.constant(1)),
  zeros: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
  withBias: fc.boolean(), withGradW: fc.boolean(), remapRows: fc.boolean(),
  seed: fc.nat(1_000_000),
});

function fillCode(code: LatentCode, c: SparseCase, rng: Rng): void {
  code.reset(c.rows);
  code.reserve(c.rows * c.dSae);
  for (let r = 0; r < c.rows; r++) {
    for (let j = 0; j < c.dSae; j++) {
      if (rng.uniform() < c.density) code.push(j, rng.uniform() < c.zeros ? 0 : rng.normal());
    }
    code.endRow(r);
  }
}

/**
 * got vs want within the float32 error bound of sums computed in different orders: both results are within
 * (terms + 2)·u·magnitude of the exact value (Higham §3.1), so they differ by at most twice that; `terms` is the
 * longest sum and `magnitude[i]` the float64 Σ|terms| of element i.
 */
function withinBound(context: string, name: string, got: Float32Array, want: Float32Array, magnitude: Float64Array, terms: number): void {
  for (let i = 0; i < magnitude.length; i++) {
    const bound = 2 * (terms + 2) * U * magnitude[i]! + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= bound)) throw new Error(`${context}: ${name}[${i}] is ${got[i]}, the reference gives ${want[i]} (bound ${bound.toExponential(2)})`);
  }
}

/** decode, backwardDecoder and backwardEncoder on the same random code through all three paths. */
export function checkSparseCase(c: SparseCase): void {
  const { rows, dSae, d } = c;
  const cfg = defaultTrainConfig("topk", { dIn: d, dSae, k: 1, seed: 1 });
  const context = `rows ${rows}, d_sae ${dSae}, d ${d}, density ${c.density.toFixed(3)}, zeros ${c.zeros.toFixed(2)}, bias ${c.withBias}, gradW ${c.withGradW}, remap ${c.remapRows}`;
  const paths = ([["sparse", "auto"], ["sparse", "scalar"], ["dense", "auto"]] as const).map(([path, kernels]) => {
    const rng = Rng.stream(c.seed, "properties/sparse");
    const ws = new StepWorkspace(cfg, rows, path, kernels);
    const code = new LatentCode(dSae, rows);
    fillCode(code, c, rng);
    const wDec = rng.fillNormal(new Float32Array(dSae * d)) as Float32Array;
    const bias = c.withBias ? rng.fillNormal(new Float32Array(d)) as Float32Array : null;
    const out = ws.buffer("out", rows * d);
    decode(code, wDec, d, bias, out, ws);
    const g = ws.buffer("g", rows * d);
    rng.fillNormal(g);
    rng.fillNormal(ws.input.subarray(0, rows * d));
    const gRow = c.remapRows ? Int32Array.from({ length: code.nnz }, () => rng.int(rows)) : undefined;
    ws.zeroGrads();
    backwardDecoder(code, g, wDec, d, c.withGradW ? ws.grads.wDec : null, ws, gRow);
    const dz = code.grad.slice(0, code.nnz);
    backwardEncoder(code, ws.input, d, ws.grads.wEnc, ws.dpreSum, ws);
    return {
      code, wDec, bias, g: g.slice(0, rows * d), input: ws.input.slice(0, rows * d), gRow,
      out: out.slice(0, rows * d), dz, gradWDec: ws.grads.wDec.slice(), gradWEnc: ws.grads.wEnc.slice(), dpre: ws.dpreSum.slice(),
    };
  });
  const [wasm, scalar, dense] = paths as [typeof paths[0], typeof paths[0], typeof paths[0]];
  // Σ|terms| of every element, in float64, from the shared inputs.
  const { code, wDec, bias, g, input, gRow } = wasm;
  const nnz = code.nnz;
  const magOut = new Float64Array(rows * d), magDz = new Float64Array(nnz), magWDec = new Float64Array(dSae * d);
  const magWEnc = new Float64Array(dSae * d), magPre = new Float64Array(dSae);
  const perLatent = new Int32Array(dSae);
  let longestRow = 0;
  for (let r = 0; r < rows; r++) {
    for (let col = 0; col < d; col++) magOut[r * d + col] = bias ? Math.abs(bias[col]!) : 0;
    longestRow = Math.max(longestRow, code.rowPtr[r + 1]! - code.rowPtr[r]!);
    for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) {
      const j = code.idx[e]!, v = Math.abs(code.val[e]!), gr = gRow ? gRow[e]! : r;
      perLatent[j]!++;
      let dot = 0;
      for (let col = 0; col < d; col++) {
        magOut[r * d + col] += v * Math.abs(wDec[j * d + col]!);
        dot += Math.abs(g[gr * d + col]!) * Math.abs(wDec[j * d + col]!);
        if (c.withGradW) magWDec[j * d + col] += v * Math.abs(g[gr * d + col]!);
      }
      magDz[e] = dot;
    }
  }
  for (let r = 0; r < rows; r++) {
    for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) {
      const j = code.idx[e]!;
      magPre[j] += magDz[e]!;
      for (let col = 0; col < d; col++) magWEnc[j * d + col] += magDz[e]! * Math.abs(input[r * d + col]!);
    }
  }
  const perLatentMax = Math.max(0, ...perLatent);
  for (const [label, other] of [["scalar loops", scalar], ["dense path", dense]] as const) {
    const ctx = `${context} (WebAssembly vs ${label})`;
    withinBound(ctx, "decode", wasm.out, other.out, magOut, longestRow + 1);
    withinBound(ctx, "∂z", wasm.dz, other.dz, magDz, d);
    withinBound(ctx, "∂W_dec", wasm.gradWDec, other.gradWDec, magWDec, perLatentMax);
    // ∂W_enc and Σ∂pre are sums of ∂z, which carry their own d-term error: the bound covers both.
    withinBound(ctx, "∂W_enc", wasm.gradWEnc, other.gradWEnc, magWEnc, perLatentMax + d);
    withinBound(ctx, "Σ∂pre", wasm.dpre, other.dpre, magPre, perLatentMax + d);
  }
}

export interface SoftmaxCase { rows: number; n: number; scale: number; spread: number; seed: number }

export const softmaxCase: fc.Arbitrary<SoftmaxCase> = fc.record({
  rows: fc.integer({ min: 1, max: 40 }),
  n: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 700 })),
  scale: fc.double({ min: 1e-3, max: 1, noNaN: true }),
  spread: fc.constantFrom(0, 1, 10, 80),
  seed: fc.nat(1_000_000),
});

/** The kernel's rows against float64: x_j ← scale·e^(x_j − M)/S, with stats M and S. */
export function checkSoftmaxCase(c: SoftmaxCase): void {
  const ws = new SoftmaxWorkspace(c.rows, c.n);
  const rng = Rng.stream(c.seed, "properties/softmax");
  const input = rng.fillNormal(new Float32Array(c.rows * c.n), 0, c.spread) as Float32Array;
  ws.logits.set(input);
  ws.run(c.rows, c.scale);
  for (let r = 0; r < c.rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < c.n; j++) max = Math.max(max, input[r * c.n + j]!);
    let sum = 0;
    for (let j = 0; j < c.n; j++) sum += Math.exp(input[r * c.n + j]! - max);
    const context = `softmax rows ${c.rows}, n ${c.n}, spread ${c.spread}, row ${r}`;
    if (ws.stats[8 * r] !== Math.fround(max)) throw new Error(`${context}: max ${ws.stats[8 * r]}, expected ${max}`);
    if (!(Math.abs(ws.stats[8 * r + 4]! - sum) <= 1e-5 * sum)) throw new Error(`${context}: sum ${ws.stats[8 * r + 4]}, float64 ${sum}`);
    for (let j = 0; j < c.n; j++) {
      const want = (c.scale * Math.exp(input[r * c.n + j]! - max)) / sum;
      const got = ws.logits[r * c.n + j]!;
      if (!(Math.abs(got - want) <= 2e-6 * c.scale + 1e-30)) throw new Error(`${context}: value ${j} is ${got}, float64 ${want}`);
    }
  }
}

/** Ways to corrupt a valid kernel call; each must be refused with a KernelArgumentError before the kernel runs. */
export type Corruption = "stale-offsets" | "decreasing-offsets" | "index-out-of-range" | "row-out-of-range" | "foreign-view" | "short-view" | "wrong-length";

export interface GuardCase { kernel: "decode_rows" | "latent_dot_axpy" | "latent_axpy"; corruption: Corruption; rows: number; n: number; d: number; seed: number }

export const guardCase: fc.Arbitrary<GuardCase> = fc.record({
  kernel: fc.constantFrom("decode_rows" as const, "latent_dot_axpy" as const, "latent_axpy" as const),
  corruption: fc.constantFrom<Corruption>("stale-offsets", "decreasing-offsets", "index-out-of-range", "row-out-of-range", "foreign-view", "short-view", "wrong-length"),
  rows: fc.integer({ min: 2, max: 40 }),
  n: fc.integer({ min: 2, max: 40 }),
  d: fc.integer({ min: 1, max: 20 }),
  seed: fc.nat(1_000_000),
});

/** Build a valid call, corrupt it, and require the one error (with the kernel's name) — and no change to the output. */
export function checkGuardCase(c: GuardCase): void {
  const arena = new WasmArena();
  const rng = Rng.stream(c.seed, "properties/guard");
  const { rows, n, d } = c;
  // A valid code: every row has one or two entries.
  const code = new LatentCode(n, rows);
  code.reset(rows);
  code.reserve(2 * rows);
  for (let r = 0; r < rows; r++) {
    const j = rng.int(n);
    code.push(j, rng.normal());
    if (n > 1 && rng.uniform() < 0.5) code.push((j + 1) % n, rng.normal());
    code.endRow(r);
  }
  code.buildLatentIndex(Math.max(1, rows >> 1));
  const nnz = code.nnz;
  const w = arena.floats(n * d), out = arena.floats(rows * d), g = arena.floats(rows * d), acc = arena.floats(n * d);
  rng.fillNormal(w);
  rng.fillNormal(g);
  const rowPtr = code.rowPtr.slice(0, rows + 1), idx = code.idx.slice(0, nnz), val = code.val.slice(0, nnz);
  const colPtr = code.colPtr.slice(0, code.blocks * n + 1), byLatent = code.byLatent.slice(0, nnz), rowOf = code.rowOf.slice(0, nnz);
  const offsets = c.kernel === "decode_rows" ? rowPtr : colPtr;
  let wView = w, gView = g, xView = g;
  switch (c.corruption) {
    case "stale-offsets": offsets[offsets.length - 1] = nnz + 1 + rng.int(50); break;
    case "decreasing-offsets": offsets[1 + rng.int(offsets.length - 1)] = -1; break;
    case "index-out-of-range":
      if (c.kernel === "decode_rows") idx[rng.int(nnz)] = n + rng.int(5);
      else byLatent[rng.int(nnz)] = nnz + rng.int(5);
      break;
    case "row-out-of-range": rowOf[rng.int(nnz)] = rows + rng.int(5); if (c.kernel === "decode_rows") idx[0] = -1; break;
    case "foreign-view": wView = new Float32Array(n * d); gView = new Float32Array(rows * d); xView = gView; break;
    case "short-view": wView = w.subarray(0, n * d - 1); idx[0] = n - 1; break; // a W one value short of the row decode_rows reads
    case "wrong-length": break;
  }
  const valArg = c.corruption === "wrong-length" ? val.subarray(1) : val;
  const before = [out.slice(), acc.slice()];
  const call = (): void => {
    if (c.kernel === "decode_rows") arena.decodeRows({ rows, d, rowPtr, idx, val: valArg, w: wView, bias: null, out });
    else if (c.kernel === "latent_dot_axpy") arena.latentDotAxpy({ blocks: code.blocks, n, d, colPtr, byLatent, gRow: rowOf, val: valArg, grad: new Float32Array(valArg.length), g: gView, w: wView, gradW: acc });
    // latent_axpy reads no W: it gets a short acc, or a foreign X, instead.
    else arena.latentAxpy({ blocks: code.blocks, n, d, colPtr, byLatent, rowOf, coef: valArg, x: xView, acc: c.corruption === "short-view" ? acc.subarray(0, n * d - 1) : acc });
  };
  let error: unknown = null;
  try {
    call();
  } catch (e) {
    error = e;
  }
  const context = `${c.kernel} with ${c.corruption} (rows ${rows}, n ${n}, d ${d})`;
  if (!(error instanceof KernelArgumentError)) throw new Error(`${context}: expected a KernelArgumentError, got ${error === null ? "no error" : String(error)}`);
  if (!error.message.includes(c.kernel)) throw new Error(`${context}: the error does not name the kernel: ${error.message}`);
  if (!out.every((v, i) => Object.is(v, before[0]![i])) || !acc.every((v, i) => Object.is(v, before[1]![i]))) throw new Error(`${context}: an output changed before the error`);
}
