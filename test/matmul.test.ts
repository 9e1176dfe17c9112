import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { blockedMatmul, referenceMatmul, matmul } from "../src/tensor/matmul.ts";
import type { MatmulKernel } from "../src/tensor/matmul_types.ts";
import { Rng } from "../src/tensor/rng.ts";

/** C = op(A)·op(B) in float64, straight from the definition: the ground truth for every kernel. */
function float64Product(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += (transA ? a[p * m + i]! : a[i * k + p]!) * (transB ? b[j * k + p]! : b[p * n + j]!);
    c[i * n + j] = s;
  }
  return c;
}

/** Bound for a float32-stored result: relative to Σ|a||b| for that element (standard GEMM error analysis). */
function expectClose(kernel: MatmulKernel, m: number, n: number, k: number, transA: boolean, transB: boolean, accumulate: boolean, seed: number): void {
  const rng = Rng.stream(seed, "matmul-test");
  const a = rng.fillNormal(new Float32Array(m * k)) as Float32Array;
  const b = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
  const c0 = rng.fillNormal(new Float32Array(m * n)) as Float32Array;
  const c = c0.slice();
  kernel({ a, b, c, m, n, k, transA, transB, accumulate });
  const exact = float64Product(a, b, m, n, k, transA, transB);
  const absA = a.map(Math.abs), absB = b.map(Math.abs);
  const scale = float64Product(absA, absB, m, n, k, transA, transB);
  for (let i = 0; i < m * n; i++) {
    const want = exact[i]! + (accumulate ? c0[i]! : 0);
    const tol = 2e-7 * (scale[i]! + (accumulate ? Math.abs(c0[i]!) : 0)) + 1e-30;
    if (Math.abs(c[i]! - want) > tol) {
      throw new Error(`m=${m} n=${n} k=${k} tA=${transA} tB=${transB} acc=${accumulate}: c[${i}]=${c[i]} want ${want} (tol ${tol})`);
    }
  }
}

const dims = fc.integer({ min: 1, max: 70 });

describe.each([
  ["reference", referenceMatmul],
  ["blocked", blockedMatmul],
] as const)("%s matmul kernel", (_name, kernel) => {
  it("matches the float64 product on every shape 1..70 and every transpose variant", () => {
    fc.assert(fc.property(dims, dims, dims, fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(1000), (m, n, k, tA, tB, acc, seed) => {
      expectClose(kernel, m, n, k, tA, tB, acc, seed);
    }), { numRuns: 150 });
  });

  it("handles shapes that cross every cache block boundary", () => {
    expectClose(kernel, 67, 517, 259, false, false, false, 1);
    expectClose(kernel, 129, 33, 300, true, true, true, 2);
  });
});

describe("matmul dispatch", () => {
  it("rejects buffers too small for the declared sizes, naming them", () => {
    expect(() => matmul({ a: new Float32Array(5), b: new Float32Array(6), c: new Float32Array(4), m: 2, n: 2, k: 3 })).toThrow(/A has 5 elements, needs m·k = 2·3/);
  });

  it("k = 0 gives zeros (or leaves C unchanged when accumulating)", () => {
    const c = new Float32Array([1, 2, 3, 4]);
    blockedMatmul({ a: new Float32Array(0), b: new Float32Array(0), c, m: 2, n: 2, k: 0, accumulate: true });
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
    blockedMatmul({ a: new Float32Array(0), b: new Float32Array(0), c, m: 2, n: 2, k: 0 });
    expect(Array.from(c)).toEqual([0, 0, 0, 0]);
  });
});
