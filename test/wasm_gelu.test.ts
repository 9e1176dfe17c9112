/**
 * The GEMM's GELU epilogue (src/tensor/wasm/gelu_kernel.ts): against the float64 GELU of the same product, on every
 * shape class (vector part and the cols % 4 tail, transposes, accumulate), on special values, bit-identical at 1
 * and 2 threads, and the same function as the scalar kernels' path through matmulGelu.
 */
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { MatmulArgs } from "../src/tensor/matmul_types.ts";
import { Rng } from "../src/tensor/rng.ts";
import { geluScalar } from "../src/tensor/det_math.ts";
import { blockedMatmul, matmulGelu, matmulKernelName, setMatmulKernel, matmul } from "../src/tensor/matmul.ts";
import { setThreads, shutdownThreads, wasmMatmul, wasmMatmulGelu, wasmSimdAvailable } from "../src/tensor/wasm/index.ts";

afterAll(() => shutdownThreads());

function problem(m: number, n: number, k: number, seed: number, flags: { transA?: boolean; transB?: boolean; accumulate?: boolean }, scale = 1): { args: MatmulArgs; c0: Float32Array } {
  const rng = Rng.stream(seed, "wasm-gelu-test");
  const a = rng.fillNormal(new Float32Array(m * k), 0, scale) as Float32Array;
  const b = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
  const c0 = rng.fillNormal(new Float32Array(m * n)) as Float32Array;
  return { args: { a, b, c: new Float32Array(m * n), m, n, k, ...flags }, c0 };
}

/** Both on the same inputs: the product with the epilogue, and the plain product (the same kernel, no GELU). */
function both(p: { args: MatmulArgs; c0: Float32Array }): { fused: Float32Array; product: Float32Array } {
  const fused = p.c0.slice();
  wasmMatmulGelu({ ...p.args, c: fused });
  const product = p.c0.slice();
  wasmMatmul({ ...p.args, c: product });
  return { fused, product };
}

/**
 * Float32 GELU = x / (1 + e^y), y = −2√(2/π)(x + 0.044715x³), evaluated in float32: a few ulps relative, except that
 * y itself carries float32 rounding, which e^y turns into a relative error of about |y|·2⁻²⁴ — large only where
 * GELU is tiny (x ≪ 0), as for any float32 GELU (PyTorch's tanh form loses more there, to cancellation).
 */
function expectGeluClose(fused: Float32Array, product: Float32Array, context: string): void {
  for (let i = 0; i < fused.length; i++) {
    const x = product[i]!;
    const want = geluScalar(x);
    const y = Math.min(88, Math.abs(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    const err = Math.abs(fused[i]! - want);
    if (!(err <= (1e-6 + 4 * y * 2 ** -24) * Math.abs(want) + 1e-30)) throw new Error(`${context}: element ${i} is ${fused[i]}, float64 GELU of the product ${x} is ${want}`);
  }
}

describe.skipIf(!wasmSimdAvailable())("GEMM GELU epilogue", () => {
  it("equals the float64 GELU of the product to float32 precision on every shape class", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(10_000),
      (m, n, k, transA, transB, accumulate, seed) => {
        const p = problem(m, n, k, seed, { transA, transB, accumulate }, 3);
        const { fused, product } = both(p);
        expectGeluClose(fused, product, `${m}×${n}×${k} tA=${transA} tB=${transB} acc=${accumulate}`);
      },
    ), { numRuns: 150 });
  });

  it("handles the tails of GELU: large |x|, zero, NaN", () => {
    const values = [0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 3, -3, 9, -9, 20, -20, 80, -80, 1e4, -1e4, NaN, 0.5, -0.5];
    const n = values.length; // 19 columns: 4 vectors and a tail of 3
    const a = Float32Array.of(1);
    const b = Float32Array.from(values);
    const fused = new Float32Array(n);
    wasmMatmulGelu({ a, b, c: fused, m: 1, n, k: 1 });
    expect(fused[values.findIndex((v) => Number.isNaN(v))]).toBeNaN();
    expectGeluClose(fused.map((v, j) => (Number.isNaN(values[j]!) ? 0 : v)), Float32Array.from(values, (v) => (Number.isNaN(v) ? 0 : v)), "special values");
    expect(fused[0]).toBe(0);
    expect(fused[values.indexOf(1e4)]).toBe(1e4);
  });

  it("is bit-identical at 1 and 2 threads", () => {
    const p = problem(130, 301, 200, 7, { accumulate: true });
    const hashes = [1, 2].map((threads) => {
      setThreads(threads);
      const c = p.c0.slice();
      wasmMatmulGelu({ ...p.args, c });
      return createHash("sha256").update(new Uint8Array(c.buffer)).digest("hex");
    });
    setThreads(2);
    expect(hashes[0]).toBe(hashes[1]);
  });

  it("matmulGelu gives the same function with the scalar kernel (float64 GELU after the product)", () => {
    const p = problem(33, 70, 45, 3, { accumulate: true }, 2);
    const before = matmulKernelName();
    expect(before).toBe("wasm-simd");
    const viaWasm = p.c0.slice();
    matmulGelu({ ...p.args, c: viaWasm });
    setMatmulKernel("blocked", blockedMatmul);
    try {
      const viaBlocked = p.c0.slice();
      matmulGelu({ ...p.args, c: viaBlocked });
      const product = p.c0.slice();
      matmul({ ...p.args, c: product });
      for (let i = 0; i < product.length; i++) expect(viaBlocked[i]).toBe(Math.fround(geluScalar(product[i]!)));
      // The two kernels round the product differently (float32 sums in another order), so compare loosely.
      for (let i = 0; i < product.length; i++) expect(Math.abs(viaBlocked[i]! - viaWasm[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(viaBlocked[i]!)));
    } finally {
      setMatmulKernel("wasm-simd", wasmMatmul);
    }
  });
});
