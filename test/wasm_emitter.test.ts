import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Code, encodeModule, FunctionBuilder, signedLeb128, unsignedLeb128, ValType } from "../src/tensor/wasm/emitter.ts";
import { GEMM_BLOCKING, gemmModuleBytes } from "../src/tensor/wasm/gemm_kernel.ts";
import { forUpTo, setMinU } from "../src/tensor/wasm/structured.ts";
import { requireWebAssembly, type WasmMemory } from "../src/tensor/wasm/wasm_api.ts";

const wasm = requireWebAssembly();

/** LEB128 decoders written independently of the encoders, straight from the definition. */
function decodeUnsigned(bytes: number[]): number {
  let value = 0;
  bytes.forEach((byte, i) => (value += (byte & 0x7f) * 2 ** (7 * i)));
  return value;
}
function decodeSigned(bytes: number[]): number {
  const value = decodeUnsigned(bytes);
  const bits = 7 * bytes.length;
  return (bytes.at(-1)! & 0x40) !== 0 ? value - 2 ** bits : value;
}
/** Every byte but the last has the continuation bit, and the encoding is as short as possible. */
function wellFormed(bytes: number[]): boolean {
  return bytes.every((b, i) => (i < bytes.length - 1) === (b >= 0x80));
}

function instantiate(functions: FunctionBuilder[], pages = 1): { exports: Record<string, unknown>; memory: WasmMemory } {
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const bytes = encodeModule(functions.map((f) => f.definition()), { initialPages: pages, maximumPages: pages, shared: false });
  expect(wasm.validate(bytes)).toBe(true);
  return { exports: new wasm.Instance(new wasm.Module(bytes), { env: { memory } }).exports, memory };
}

describe("LEB128", () => {
  it("matches the specification's examples", () => {
    expect(unsignedLeb128(0)).toEqual([0x00]);
    expect(unsignedLeb128(127)).toEqual([0x7f]);
    expect(unsignedLeb128(128)).toEqual([0x80, 0x01]);
    expect(unsignedLeb128(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(signedLeb128(0)).toEqual([0x00]);
    expect(signedLeb128(-1)).toEqual([0x7f]);
    expect(signedLeb128(63)).toEqual([0x3f]);
    expect(signedLeb128(64)).toEqual([0xc0, 0x00]);
    expect(signedLeb128(-64)).toEqual([0x40]);
    expect(signedLeb128(-65)).toEqual([0xbf, 0x7f]);
    expect(signedLeb128(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  it("round-trips every unsigned and signed 32-bit value in minimal form", () => {
    fc.assert(fc.property(fc.nat({ max: 2 ** 32 - 1 }), (n) => {
      const bytes = unsignedLeb128(n);
      return decodeUnsigned(bytes) === n && wellFormed(bytes) && bytes.length === Math.max(1, Math.ceil(Math.log2(n + 1) / 7));
    }), { numRuns: 2000 });
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (n) => {
      const bytes = signedLeb128(n);
      const shorter = bytes.length > 1 ? bytes.slice(0, -1) : null;
      const minimal = shorter === null || decodeSigned([...shorter.slice(0, -1), shorter.at(-1)! & 0x7f]) !== n;
      return decodeSigned(bytes) === n && wellFormed(bytes) && minimal;
    }), { numRuns: 2000 });
  });

  it("rejects what it cannot encode", () => {
    expect(() => unsignedLeb128(-1)).toThrow(RangeError);
    expect(() => unsignedLeb128(1.5)).toThrow(RangeError);
    expect(() => signedLeb128(Number.NaN)).toThrow(RangeError);
  });
});

describe("module emitter", () => {
  it("builds a module whose functions run: loops, min, negative constants", () => {
    const { i32 } = ValType;
    // sumOfSquares(n) = Σ_{i<n} i², minus 1000 (a negative constant), via forUpTo.
    const sum = new FunctionBuilder("sumOfSquaresMinus1000", [i32], [i32]);
    const i = sum.local(i32);
    const total = sum.local(i32);
    sum.code.i32Const(-1000).localSet(total);
    forUpTo(sum.code, i, sum.param(0), 1, () => void sum.code.localGet(total).localGet(i).localGet(i).i32Mul().i32Add().localSet(total));
    sum.code.localGet(total);
    // minU(a, b) via setMinU: unsigned, so -1 is the largest value.
    const min = new FunctionBuilder("minU", [i32, i32], [i32]);
    const out = min.local(i32);
    setMinU(min.code, out, () => void min.code.localGet(0), () => void min.code.localGet(1));
    min.code.localGet(out);
    const { exports } = instantiate([sum, min]);
    const sumOfSquares = exports.sumOfSquaresMinus1000 as (n: number) => number;
    const minU = exports.minU as (a: number, b: number) => number;
    expect(sumOfSquares(0)).toBe(-1000);
    expect(sumOfSquares(10)).toBe(285 - 1000);
    expect(minU(3, 7)).toBe(3);
    expect(minU(-1, 7)).toBe(7);
  });

  it("emits SIMD arithmetic with float32 semantics: splat, mul, add, shuffle", () => {
    const { i32 } = ValType;
    // out[0..4) = shuffle(x·broadcast(s) + y) with lanes reversed
    const f = new FunctionBuilder("fma4", [i32, i32, i32, i32]);
    const [x, y, s, out] = [0, 1, 2, 3];
    const reverse = [3, 2, 1, 0].flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]);
    f.code.localGet(out);
    f.code.localGet(x).v128Load().localGet(s).v128Load32Splat().f32x4Mul().localGet(y).v128Load().f32x4Add();
    f.code.localGet(out).v128Load().i8x16Shuffle(reverse); // second operand unused by these lane picks
    f.code.v128Store();
    const { exports, memory } = instantiate([f]);
    const heap = new Float32Array(memory.buffer);
    heap.set([1.1, -2.2, 3.3e10, 1e-30], 0);
    heap.set([0.1, 0.2, -0.3, 7], 4);
    heap[8] = 1 / 3;
    (exports.fma4 as (...args: number[]) => void)(0, 16, 32, 48);
    const want = [0, 1, 2, 3].map((i) => Math.fround(Math.fround(heap[i]! * heap[8]!) + heap[4 + i]!)).reverse();
    expect(Array.from(heap.subarray(12, 16))).toEqual(want);
  });

  it("rejects malformed shuffles and out-of-range parameters", () => {
    expect(() => new Code().i8x16Shuffle([0, 1, 2])).toThrow(RangeError);
    expect(() => new Code().i8x16Shuffle(new Array(16).fill(32))).toThrow(RangeError);
    expect(() => new FunctionBuilder("f", [ValType.i32]).param(1)).toThrow(RangeError);
  });
});

describe("packing (packA / packB of the GEMM module)", () => {
  const { mr, nr } = GEMM_BLOCKING;
  const pages = 4;
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const bytes = gemmModuleBytes(GEMM_BLOCKING, { initialPages: pages, maximumPages: pages, shared: false });
  const exports = new wasm.Instance(new wasm.Module(bytes), { env: { memory } }).exports;
  const words = new Uint32Array(memory.buffer);

  /** The layout packing must produce, built element by element: panels of R lanes, k-major, zero-filled. */
  function expectedPanels(source: Uint32Array, laneStride: number, kStride: number, lanes: number, kc: number, R: number): Uint32Array {
    const panels = Math.ceil(lanes / R);
    const out = new Uint32Array(panels * R * kc);
    for (let q = 0; q < panels; q++) {
      for (let p = 0; p < kc; p++) {
        for (let r = 0; r < R; r++) {
          const lane = q * R + r;
          out[q * R * kc + p * R + r] = lane < lanes ? source[lane * laneStride + p * kStride]! : 0;
        }
      }
    }
    return out;
  }

  it.each([
    ["packA", mr],
    ["packB", nr],
  ] as const)("%s copies every layout bit for bit (contiguous lanes, contiguous k, strided, edges)", (name, R) => {
    const pack = exports[name] as (src: number, laneStrideBytes: number, kStrideBytes: number, lanes: number, kc: number, dst: number) => void;
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 * R + 1 }), fc.integer({ min: 1, max: 23 }), fc.constantFrom("lanes", "k", "neither"), fc.nat(9), (lanes, kc, contiguous, pad) => {
      // Source: a lanes×kc block inside a larger row-major matrix (leading dimension with `pad` extra columns).
      const [laneStride, kStride] = contiguous === "lanes" ? [1, lanes + pad] : contiguous === "k" ? [kc + pad, 1] : [2 * kc + pad + 1, 2];
      const sourceWords = lanes * laneStride + kc * kStride;
      const source = Uint32Array.from({ length: sourceWords }, (_, i) => (0x7fc00000 + i * 2654435761) >>> 0); // incl. NaN payloads
      words.set(source, 0);
      const dst = 4 * (sourceWords + 16);
      const panelsWords = Math.ceil(lanes / R) * R * kc;
      words.fill(0xdeadbeef, dst / 4, dst / 4 + panelsWords + 8);
      pack(0, 4 * laneStride, 4 * kStride, lanes, kc, dst);
      expect(Array.from(words.subarray(dst / 4, dst / 4 + panelsWords))).toEqual(Array.from(expectedPanels(source, laneStride, kStride, lanes, kc, R)));
      expect(words[dst / 4 + panelsWords]).toBe(0xdeadbeef); // nothing written past the panels
    }), { numRuns: 300 });
  });
});
