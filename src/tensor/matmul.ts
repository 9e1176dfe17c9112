/**
 * Matrix multiplication kernels (contract: ./matmul_types.ts) and the dispatch every op goes through.
 *
 * - `referenceMatmul`: the textbook triple loop. Obviously correct; the yardstick for every other kernel.
 * - `blockedMatmul`: the scalar TypeScript kernel, structured like a BLIS/GotoBLAS GEMM: op(B) is packed
 *   into KC×NR column panels and op(A) into MR×KC row panels (this also absorbs the transposes, so callers
 *   never copy to transpose), and a 4×4 register-tiled micro-kernel keeps 16 accumulators in locals while
 *   streaming both panels contiguously. Packing pads partial tiles with zeros so the micro-kernel never
 *   branches; the store step writes only the valid part.
 *
 * Both accumulate each output element in JavaScript numbers (float64) over a K block and round to float32
 * when storing, so they are at least as accurate as a float32 dot product. Every output element is computed
 * by the same sequence of operations regardless of how the work is split, which makes results deterministic.
 */
import type { MatmulArgs, MatmulKernel } from "./matmul_types.ts";
import { ShapeError } from "./shape.ts";
import { useRelaxedSimd, wasmMatmul, wasmMatmulGelu, wasmMatmulHalf, wasmSimdAvailable } from "./wasm/index.ts";
import { decodeBf16, decodeF16 } from "./half.ts";
import { geluScalar } from "./det_math.ts";

export type { MatmulArgs, MatmulKernel } from "./matmul_types.ts";

/** Validate sizes once at the boundary; kernels then index without checks. */
export function checkMatmulArgs({ a, b, c, m, n, k }: MatmulArgs, op = "matmul"): void {
  for (const [name, v] of [["m", m], ["n", n], ["k", k]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new ShapeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
  }
  if (a.length < m * k) throw new ShapeError(`${op}: A has ${a.length} elements, needs m·k = ${m}·${k}`);
  if (b.length < k * n) throw new ShapeError(`${op}: B has ${b.length} elements, needs k·n = ${k}·${n}`);
  if (c.length < m * n) throw new ShapeError(`${op}: C has ${c.length} elements, needs m·n = ${m}·${n}`);
}

export const referenceMatmul: MatmulKernel = ({ a, b, c, m, n, k, transA = false, transB = false, accumulate = false }) => {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i]! : a[i * k + p]!;
        const bv = transB ? b[j * k + p]! : b[p * n + j]!;
        sum += av * bv;
      }
      c[i * n + j] = accumulate ? c[i * n + j]! + sum : sum;
    }
  }
};

const MR = 4;
const NR = 4;
/** Cache blocking: a KC×NC panel of B (256·512·4 B = 512 KiB) stays in L2; an MC×KC block of A in L1/L2. */
const KC = 256;
const MC = 64;
const NC = 512;

let packedA = new Float64Array(MC * KC);
let packedB = new Float64Array(KC * NC);

/** Pack op(A)[i0:i0+mc, p0:p0+kc] into MR-row panels, k-major within each panel, zero-padded. */
function packA(a: Float32Array, m: number, k: number, transA: boolean, i0: number, mc: number, p0: number, kc: number): void {
  const panels = Math.ceil(mc / MR);
  for (let ip = 0; ip < panels; ip++) {
    const base = ip * kc * MR;
    for (let ii = 0; ii < MR; ii++) {
      const i = i0 + ip * MR + ii;
      if (i >= i0 + mc) {
        for (let p = 0; p < kc; p++) packedA[base + p * MR + ii] = 0;
      } else if (transA) {
        for (let p = 0; p < kc; p++) packedA[base + p * MR + ii] = a[(p0 + p) * m + i]!;
      } else {
        const row = i * k + p0;
        for (let p = 0; p < kc; p++) packedA[base + p * MR + ii] = a[row + p]!;
      }
    }
  }
}

/** Pack op(B)[p0:p0+kc, j0:j0+nc] into NR-column panels, k-major within each panel, zero-padded. */
function packB(b: Float32Array, n: number, k: number, transB: boolean, p0: number, kc: number, j0: number, nc: number): void {
  const panels = Math.ceil(nc / NR);
  for (let jp = 0; jp < panels; jp++) {
    const base = jp * kc * NR;
    for (let jj = 0; jj < NR; jj++) {
      const j = j0 + jp * NR + jj;
      if (j >= j0 + nc) {
        for (let p = 0; p < kc; p++) packedB[base + p * NR + jj] = 0;
      } else if (transB) {
        const row = j * k + p0;
        for (let p = 0; p < kc; p++) packedB[base + p * NR + jj] = b[row + p]!;
      } else {
        for (let p = 0; p < kc; p++) packedB[base + p * NR + jj] = b[(p0 + p) * n + j]!;
      }
    }
  }
}

/** 4×4 micro-kernel: C[i0.., j0..] += Apanel · Bpanel over kc, storing only the rows/cols that exist. */
function microKernel(
  kc: number, aOff: number, bOff: number,
  c: Float32Array, n: number, i0: number, j0: number, rows: number, cols: number,
): void {
  const A = packedA;
  const B = packedB;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let pa = aOff;
  let pb = bOff;
  for (let p = 0; p < kc; p++) {
    const a0 = A[pa]!, a1 = A[pa + 1]!, a2 = A[pa + 2]!, a3 = A[pa + 3]!;
    const b0 = B[pb]!, b1 = B[pb + 1]!, b2 = B[pb + 2]!, b3 = B[pb + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    pa += MR;
    pb += NR;
  }
  if (rows === MR && cols === NR) {
    let o = i0 * n + j0;
    c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03; o += n;
    c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13; o += n;
    c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23; o += n;
    c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33;
    return;
  }
  const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < cols; s++) c[(i0 + r) * n + j0 + s] += tile[r * 4 + s]!;
  }
}

export const blockedMatmul: MatmulKernel = ({ a, b, c, m, n, k, transA = false, transB = false, accumulate = false }) => {
  if (!accumulate) c.fill(0, 0, m * n);
  if (m === 0 || n === 0 || k === 0) return;
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      packB(b, n, k, transB, p0, kc, j0, nc);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        packA(a, m, k, transA, i0, mc, p0, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = Math.min(NR, nc - jr);
          const bOff = (jr / NR) * kc * NR;
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = Math.min(MR, mc - ir);
            microKernel(kc, (ir / MR) * kc * MR, bOff, c, n, i0 + ir, j0 + jr, rows, cols);
          }
        }
      }
    }
  }
};

// Scratch grows on demand once; sized for the largest block so this is a one-time allocation.
packedA = new Float64Array(MC * KC);
packedB = new Float64Array(KC * (NC + NR));

/**
 * The default: the threaded WebAssembly SIMD kernel where the runtime has SIMD, else the scalar blocked kernel.
 * SAE_SEEDS_MATMUL=blocked|reference|wasm forces a choice (for audits and benchmarks); wasm-relaxed opts in to the
 * relaxed-SIMD kernel (fused multiply-add; CPU-dependent results, recorded as "wasm-simd-relaxed").
 */
function initialKernel(): [string, MatmulKernel] {
  const forced = process.env.SAE_SEEDS_MATMUL;
  if (forced === "blocked") return ["blocked", blockedMatmul];
  if (forced === "reference") return ["reference", referenceMatmul];
  if (forced === "wasm-relaxed") {
    // Opt-in: fused multiply-adds (relaxed SIMD), faster where the CPU has FMA, results CPU-dependent (named so).
    useRelaxedSimd(true);
    return ["wasm-simd-relaxed", wasmMatmul];
  }
  if (forced !== undefined && forced !== "" && forced !== "wasm") throw new Error(`SAE_SEEDS_MATMUL must be wasm, wasm-relaxed, blocked or reference, got "${forced}"`);
  return wasmSimdAvailable() ? ["wasm-simd", wasmMatmul] : ["blocked", blockedMatmul];
}

let [defaultKernelName, defaultKernel] = initialKernel();

/** Replace the kernel used by `matmul` (e.g. the WASM SIMD one once it is loaded). */
export function setMatmulKernel(name: string, kernel: MatmulKernel): void {
  defaultKernel = kernel;
  defaultKernelName = name;
}

/** The name of the matmul kernel in use (what receipts record). */
export function matmulKernelName(): string {
  return defaultKernelName;
}

/** C (+)= op(A)·op(B) with the current default kernel, after checking sizes. */
export function matmul(args: MatmulArgs): void {
  checkMatmulArgs(args);
  defaultKernel(args);
}

/**
 * C = gelu(C (+) op(A)·op(B)) — GPT-2's fc layer with its activation. The WebAssembly kernel applies the GELU
 * inside the product on every thread, in float32; the scalar kernels apply the float64 geluScalar afterwards.
 * The two agree to float32 rounding (tested), not bit for bit.
 */
export function matmulGelu(args: MatmulArgs): void {
  checkMatmulArgs(args);
  if (defaultKernel === wasmMatmul) {
    wasmMatmulGelu(args);
    return;
  }
  defaultKernel(args);
  const { c, m, n } = args;
  for (let i = 0; i < m * n; i++) c[i] = geluScalar(c[i]!);
}

/** How a 16-bit B operand is encoded: IEEE binary16 ("F16" in safetensors) or bfloat16 ("BF16"). */
export type HalfFormat = "f16" | "bf16";

/** MatmulArgs with B given as 16-bit codes (a model's weights as an F16/BF16 file stores them). */
export interface HalfMatmulArgs extends Omit<MatmulArgs, "b"> {
  b: Uint16Array;
  bFormat: HalfFormat;
}

/**
 * C (+)= op(A)·op(B) with B in 16 bits; with `gelu`, C = gelu(that) as matmulGelu. Every 16-bit value converts to
 * float32 exactly, so the result is bit for bit the product with B decoded up front — but B never exists as float32
 * in memory: the WebAssembly kernel converts each panel of B as it packs it (./wasm/pack_half.ts). The scalar
 * kernels (SAE_SEEDS_MATMUL=blocked|reference) decode B first.
 */
export function matmulHalf(args: HalfMatmulArgs, gelu = false): void {
  const { b, bFormat, ...rest } = args;
  if (bFormat !== "f16" && bFormat !== "bf16") throw new ShapeError(`matmul: unknown 16-bit format ${String(bFormat)}`);
  const placeholder = { ...rest, b: { length: b.length } as unknown as Float32Array };
  checkMatmulArgs(placeholder);
  if (defaultKernel === wasmMatmul) {
    wasmMatmulHalf(args, gelu);
    return;
  }
  const count = args.k * args.n;
  const decoded = bFormat === "f16" ? decodeF16(b.subarray(0, count)) : decodeBf16(b.subarray(0, count));
  (gelu ? matmulGelu : matmul)({ ...rest, b: decoded });
}
