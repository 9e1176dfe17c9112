/**
 * A 16-bit B operand (F16/BF16 codes, a model's weights as its file stores them): the packer widens each panel to
 * float32 exactly, so every product is bit for bit the product with B decoded up front — for every one of the 65536
 * codes, both storage orders of B, edges, accumulation, the fused GELU, and any thread count.
 */
import { createHash } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { Rng } from "../src/tensor/rng.ts";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "../src/tensor/half.ts";
import { blockedMatmul, matmulHalf, matmulKernelName, setMatmulKernel } from "../src/tensor/matmul.ts";
import { setThreads, shutdownThreads, wasmMatmul, wasmMatmulGelu, wasmMatmulHalf } from "../src/tensor/wasm/index.ts";

afterAll(() => shutdownThreads());

const sha256 = (v: Float32Array): string => createHash("sha256").update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest("hex");
const decode = (format: "f16" | "bf16", codes: Uint16Array): Float32Array => (format === "f16" ? decodeF16(codes) : decodeBf16(codes));

function problem(m: number, n: number, k: number, format: "f16" | "bf16", seed: number): { a: Float32Array; codes: Uint16Array; c0: Float32Array } {
  const rng = Rng.stream(seed, "half-matmul-test");
  const a = rng.fillNormal(new Float32Array(m * k)) as Float32Array;
  const values = rng.fillNormal(new Float32Array(k * n)) as Float32Array;
  const codes = format === "f16" ? encodeF16(values) : encodeBf16(values);
  return { a, codes, c0: rng.fillNormal(new Float32Array(m * n)) as Float32Array };
}

describe.each(["f16", "bf16"] as const)("matmul with a %s B", (format) => {
  it("widens all 65536 codes exactly like the decoder (both storage orders of B, every lane position)", () => {
    // C = I·B with k = 8 rows of B holding 8192 codes each: every code passes through packing once.
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const k = 8, n = 8192;
    const identity = new Float32Array(k * k);
    for (let i = 0; i < k; i++) identity[i * k + i] = 1;
    for (const transB of [false, true]) {
      const b = transB ? Uint16Array.from({ length: k * n }, (_, i) => all[(i % k) * n + Math.floor(i / k)]!) : all;
      const c = new Float32Array(k * n);
      wasmMatmulHalf({ a: identity, b, bFormat: format, c, m: k, n, k, transB });
      const cDecoded = new Float32Array(k * n);
      wasmMatmul({ a: identity, b: decode(format, b), c: cDecoded, m: k, n, k, transB });
      expect(sha256(c)).toBe(sha256(cDecoded));
    }
    // And the values themselves, through C = 1·B (k = 1: no zero products that would turn Inf into NaN): B is C,
    // NaN stays NaN, and −0 becomes +0 exactly as with a float32 B (the accumulator starts at +0).
    const c = new Float32Array(65536);
    wasmMatmulHalf({ a: Float32Array.of(1), b: all, bFormat: format, c, m: 1, n: 65536, k: 1 });
    const want = decode(format, all);
    let bad = 0;
    for (let i = 0; i < want.length; i++) if (!(Object.is(c[i], want[i]) || (c[i] !== c[i] && want[i] !== want[i]) || (want[i] === 0 && c[i] === 0))) bad++;
    expect(bad).toBe(0);
  });

  it("equals the decoded product bit for bit on random shapes (edges, both orders, accumulate, fused GELU)", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 90 }), fc.integer({ min: 1, max: 420 }), fc.boolean(), fc.boolean(), fc.boolean(), (m, n, k, transB, accumulate, gelu) => {
      const { a, codes, c0 } = problem(m, n, k, format, m * 1000 + n * 10 + k);
      const c1 = c0.slice(), c2 = c0.slice();
      wasmMatmulHalf({ a, b: codes, bFormat: format, c: c1, m, n, k, transB, accumulate }, gelu);
      (gelu ? wasmMatmulGelu : wasmMatmul)({ a, b: decode(format, codes), c: c2, m, n, k, transB, accumulate });
      return sha256(c1) === sha256(c2);
    }), { numRuns: 60 });
  });

  it("gives the same bits on 1, 2 and 3 threads at model shapes", () => {
    try {
      for (const [m, n, k, transB] of [[64, 2304, 768, false], [80, 1536, 576, true], [33, 1000, 771, true]] as [number, number, number, boolean][]) {
        const { a, codes } = problem(m, n, k, format, n);
        const hashes = [1, 2, 3].map((t) => {
          setThreads(t);
          const c = new Float32Array(m * n);
          wasmMatmulHalf({ a, b: codes, bFormat: format, c, m, n, k, transB });
          return sha256(c);
        });
        expect(new Set(hashes).size).toBe(1);
      }
    } finally {
      setThreads(2);
    }
  });

  it("the scalar kernels decode B first and agree to float32 rounding", () => {
    const { a, codes } = problem(9, 17, 33, format, 5);
    const wasm = new Float32Array(9 * 17);
    matmulHalf({ a, b: codes, bFormat: format, c: wasm, m: 9, n: 17, k: 33, transB: true });
    const before = matmulKernelName();
    setMatmulKernel("blocked", blockedMatmul);
    try {
      const scalar = new Float32Array(9 * 17);
      matmulHalf({ a, b: codes, bFormat: format, c: scalar, m: 9, n: 17, k: 33, transB: true });
      for (let i = 0; i < scalar.length; i++) expect(Math.abs(scalar[i]! - wasm[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(wasm[i]!)));
    } finally {
      setMatmulKernel(before, wasmMatmul);
    }
  });

  it("refuses a B shorter than k·n and an unknown format", () => {
    expect(() => matmulHalf({ a: new Float32Array(4), b: new Uint16Array(3), bFormat: format, c: new Float32Array(4), m: 2, n: 2, k: 2 })).toThrow(/B has 3 elements, needs k·n = 2·2/);
    expect(() => matmulHalf({ a: new Float32Array(4), b: new Uint16Array(4), bFormat: "f8" as never, c: new Float32Array(4), m: 2, n: 2, k: 2 })).toThrow(/unknown 16-bit format/);
  });
});
