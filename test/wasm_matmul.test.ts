import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { MatmulArgs, MatmulKernel } from "../src/tensor/matmul_types.ts";
import { Rng } from "../src/tensor/rng.ts";
import { GEMM_BLOCKING } from "../src/tensor/wasm/gemm_kernel.ts";
import { setThreads, shutdownThreads, wasmMatmul, wasmMatmulSingle, wasmSimdAvailable, workerThreadCount } from "../src/tensor/wasm/index.ts";

afterAll(() => shutdownThreads());

/** op(A)·op(B) (+ C₀) in float64 straight from the definition, and Σ|a||b| (+ |C₀|) for the error bound. */
function float64Reference(args: MatmulArgs, c0: Float32Array): { exact: Float64Array; magnitude: Float64Array } {
  const { a, b, m, n, k, transA = false, transB = false, accumulate = false } = args;
  const exact = new Float64Array(m * n);
  const magnitude = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = accumulate ? c0[i * n + j]! : 0;
      let abs = Math.abs(sum);
      for (let p = 0; p < k; p++) {
        const product = (transA ? a[p * m + i]! : a[i * k + p]!) * (transB ? b[j * k + p]! : b[p * n + j]!);
        sum += product;
        abs += Math.abs(product);
      }
      exact[i * n + j] = sum;
      magnitude[i * n + j] = abs;
    }
  }
  return { exact, magnitude };
}

/**
 * The kernel accumulates in float32: a product and a sum per term, plus one sum into C. Standard error analysis
 * (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1) bounds the error of such a dot product by
 * γ ≈ (terms)·u times Σ|terms|, u = 2⁻²⁴. We allow (k + 2)·u·(Σ|a||b| + |C₀|): tight, but rigorous.
 */
const UNIT_ROUNDOFF = 2 ** -24;

interface Problem {
  args: MatmulArgs;
  c0: Float32Array;
}

function randomProblem(m: number, n: number, k: number, transA: boolean, transB: boolean, accumulate: boolean, seed: number): Problem {
  const rng = Rng.stream(seed, "wasm-matmul-test");
  const a = rng.fillNormal(new Float32Array(m * k)) as Float32Array;
  const b = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
  const c0 = rng.fillNormal(new Float32Array(m * n)) as Float32Array;
  return { args: { a, b, c: c0.slice(), m, n, k, transA, transB, accumulate }, c0 };
}

function expectWithinBound(kernel: MatmulKernel, { args, c0 }: Problem): void {
  kernel(args);
  const { exact, magnitude } = float64Reference(args, c0);
  const { m, n, k, c } = args;
  for (let i = 0; i < m * n; i++) {
    const bound = (k + 2) * UNIT_ROUNDOFF * magnitude[i]!;
    const error = Math.abs(c[i]! - exact[i]!);
    if (!(error <= bound)) {
      const { transA, transB, accumulate } = args;
      throw new Error(`m=${m} n=${n} k=${k} transA=${transA} transB=${transB} accumulate=${accumulate}: c[${i}] = ${c[i]}, exact ${exact[i]}, error ${error} > bound ${bound}`);
    }
  }
}

const sha256 = (values: Float32Array): string => createHash("sha256").update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest("hex");

const dims = fc.integer({ min: 1, max: 70 });
const variants = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

describe("wasm SIMD matmul", () => {
  it("is available on this runtime", () => {
    expect(wasmSimdAvailable()).toBe(true);
  });

  describe.each([
    ["single-threaded", wasmMatmulSingle],
    ["threaded", wasmMatmul],
  ] as const)("%s", (_name, kernel) => {
    it("is within the float32 error bound of the float64 product for every shape 1..70, transpose and accumulate", () => {
      fc.assert(
        fc.property(dims, dims, dims, fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(10_000), (m, n, k, tA, tB, acc, seed) => {
          expectWithinBound(kernel, randomProblem(m, n, k, tA, tB, acc, seed));
        }),
        { numRuns: 200 },
      );
    });

    it("is exact when every product and partial sum is representable (small integers)", () => {
      fc.assert(
        fc.property(dims, dims, dims, fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(10_000), (m, n, k, tA, tB, acc, seed) => {
          const rng = Rng.stream(seed, "wasm-matmul-integers");
          const small = (length: number): Float32Array => Float32Array.from({ length }, () => rng.int(7) - 3);
          const a = small(m * k);
          const b = small(k * n);
          const c0 = small(m * n);
          const args: MatmulArgs = { a, b, c: c0.slice(), m, n, k, transA: tA, transB: tB, accumulate: acc };
          kernel(args);
          const { exact } = float64Reference(args, c0);
          expect(Array.from(args.c)).toEqual(Array.from(exact));
        }),
        { numRuns: 100 },
      );
    });
  });

  it("is within the bound on large and block-crossing shapes, all transposes, with and without accumulate", () => {
    const { kc, mc } = GEMM_BLOCKING;
    const shapes: [number, number, number][] = [
      [300, 517, 129],
      [mc + 3, 61, 2 * kc + 5], // more than two k blocks: C is revisited with C + acc
      [1, 700, kc + 1], // a single row
      [700, 1, 33], // a single column
    ];
    let seed = 1;
    for (const [m, n, k] of shapes) {
      for (const [tA, tB] of variants) {
        for (const acc of [false, true]) expectWithinBound(wasmMatmul, randomProblem(m, n, k, tA, tB, acc, seed++));
      }
    }
  });

  it("gives bit-identical results on 1, 2 and 3 threads (sha256), including the GPT-2 and SAE shapes", () => {
    const shapes: [number, number, number, boolean, boolean][] = [
      [64, 2304, 768, false, false], // GPT-2 attention projection
      [300, 517, 129, true, false],
      [1000, 200, 300, false, false], // m > n: split by rows
      [512, 2048, 768, false, true], // SAE encoder, W_enc stored [n, d]
      [257, 263, 401, true, true],
    ];
    try {
      for (const [m, n, k, tA, tB] of shapes) {
        const { args } = randomProblem(m, n, k, tA, tB, false, m + n + k);
        const hashes = [1, 2, 3].map((threads) => {
          setThreads(threads);
          const c = new Float32Array(m * n);
          wasmMatmul({ ...args, c });
          return sha256(c);
        });
        expect(workerThreadCount()).toBeGreaterThanOrEqual(2); // the 3-thread run really used workers
        const single = new Float32Array(m * n);
        wasmMatmulSingle({ ...args, c: single });
        expect(hashes).toEqual([sha256(single), sha256(single), sha256(single)]);
      }
    } finally {
      setThreads(2);
    }
  });

  it("keeps every call's result intact under many back-to-back threaded calls with changing thread counts", () => {
    // Exercises the wake-up protocol: a job run twice (or by the wrong worker) would corrupt accumulate results.
    const rng = Rng.stream(7, "wasm-matmul-stress");
    try {
      for (let call = 0; call < 150; call++) {
        const size = (): number => 90 + rng.int(120);
        const problem = randomProblem(size(), size(), size(), rng.uniform() < 0.5, rng.uniform() < 0.5, true, call);
        const expected = problem.args.c.slice();
        wasmMatmulSingle({ ...problem.args, c: expected });
        setThreads(1 + rng.int(4));
        wasmMatmul(problem.args);
        expect(sha256(problem.args.c)).toBe(sha256(expected));
      }
    } finally {
      setThreads(2);
    }
  });

  it("treats empty products by the contract: k = 0 gives zeros (or leaves C when accumulating), m or n = 0 does nothing", () => {
    const c = new Float32Array([1, 2, 3, 4]);
    wasmMatmul({ a: new Float32Array(0), b: new Float32Array(0), c, m: 2, n: 2, k: 0, accumulate: true });
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
    wasmMatmul({ a: new Float32Array(0), b: new Float32Array(0), c, m: 2, n: 2, k: 0 });
    expect(Array.from(c)).toEqual([0, 0, 0, 0]);
    const untouched = new Float32Array([5]);
    wasmMatmul({ a: new Float32Array(0), b: new Float32Array(3), c: untouched, m: 0, n: 1, k: 3 });
    expect(Array.from(untouched)).toEqual([5]);
  });

  it("reads only the first m·k, k·n and m·n elements and writes only the first m·n", () => {
    const a = Float32Array.of(1, 2, 99);
    const b = Float32Array.of(3, 4, 99);
    const c = Float32Array.of(0, 42);
    wasmMatmul({ a, b, c, m: 1, n: 1, k: 2 });
    expect(Array.from(c)).toEqual([11, 42]);
  });

  it("rejects buffers too small for the declared sizes, naming them", () => {
    expect(() => wasmMatmul({ a: new Float32Array(5), b: new Float32Array(6), c: new Float32Array(4), m: 2, n: 2, k: 3 })).toThrow(/A has 5 elements, needs m·k = 2·3/);
    expect(() => wasmMatmul({ a: new Float32Array(6), b: new Float32Array(6), c: new Float32Array(3), m: 2, n: 2, k: 3 })).toThrow(/C has 3 elements/);
    expect(() => wasmMatmul({ a: new Float32Array(6), b: new Float32Array(6), c: new Float32Array(4), m: 2, n: 2.5, k: 3 })).toThrow(/n must be a non-negative integer/);
  });

  it("propagates NaN and infinity like the float32 definition", () => {
    const a = Float32Array.of(Number.NaN, 1, Number.POSITIVE_INFINITY, 1);
    const b = Float32Array.of(1, 1);
    const c = new Float32Array(2);
    wasmMatmul({ a, b, c, m: 2, n: 1, k: 2 });
    expect(Number.isNaN(c[0])).toBe(true);
    expect(c[1]).toBe(Number.POSITIVE_INFINITY);
  });
});
