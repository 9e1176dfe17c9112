import { describe, it, expect } from "vitest";
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16, decodeF16, encodeF16, decodeBf16, encodeBf16 } from "../src/tensor/half.ts";

/** An independent derivation of an f16 code's value with plain arithmetic (no bit tricks). */
function f16Value(code: number): number {
  const sign = code & 0x8000 ? -1 : 1;
  const exp = (code >> 10) & 0x1f;
  const mant = code & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function bf16Value(code: number): number {
  const sign = code & 0x8000 ? -1 : 1;
  const exp = (code >> 7) & 0xff;
  const mant = code & 0x7f;
  if (exp === 0xff) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -133;
  return sign * (1 + mant / 128) * 2 ** (exp - 127);
}

const sameValue = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || Object.is(a, b);

describe("half precision codecs (exhaustive over all 65536 codes)", () => {
  it("f16 decode is exact and encode(decode(c)) == c for every non-NaN code", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const bulk = decodeF16(all);
    const bad: number[] = [];
    for (let c = 0; c < 65536; c++) {
      const v = f16ToF32(c);
      if (!sameValue(v, f16Value(c)) || !sameValue(bulk[c]!, v)) bad.push(c);
      if (!Number.isNaN(v) && f32ToF16(v) !== c) bad.push(c);
      if (Number.isNaN(v) && !Number.isNaN(f16ToF32(f32ToF16(v)))) bad.push(c);
    }
    expect(bad).toEqual([]);
    expect(Array.from(encodeF16(bulk.filter((v) => !Number.isNaN(v))))).toEqual(Array.from(all).filter((c) => !Number.isNaN(f16Value(c))));
  });

  it("bf16 decode is exact and round-trips every non-NaN code", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const bulk = decodeBf16(all);
    const bad: number[] = [];
    for (let c = 0; c < 65536; c++) {
      const v = bf16ToF32(c);
      if (!sameValue(v, bf16Value(c)) || !sameValue(bulk[c]!, v)) bad.push(c);
      if (!Number.isNaN(v) && f32ToBf16(v) !== c) bad.push(c);
    }
    expect(bad).toEqual([]);
    expect(encodeBf16(new Float32Array([NaN]))[0]! & 0x7fff).toBeGreaterThan(0x7f80);
  });

  it("rounds float32 to the nearest f16, ties to even, with overflow to infinity", () => {
    for (let c = 0; c < 0x7c00 - 1; c++) {
      // The midpoint between consecutive codes c and c+1 rounds to whichever is even.
      const mid = (f16Value(c) + f16Value(c + 1)) / 2;
      if (Math.fround(mid) !== mid) continue; // only midpoints representable in float32 are exact ties
      const expected = c % 2 === 0 ? c : c + 1;
      if (f32ToF16(mid) !== expected) throw new Error(`tie at code ${c}: got ${f32ToF16(mid)}, want ${expected}`);
      const above = Math.fround(mid + Math.abs(mid) * 1e-6 + 1e-30);
      if (above > mid && above < f16Value(c + 1) && f32ToF16(above) !== c + 1) throw new Error(`just above the midpoint of ${c}`);
    }
    expect(f32ToF16(65520)).toBe(0x7c00); // halfway between max (65504) and 2^16 rounds up to Inf
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(-1e10)).toBe(0xfc00);
    expect(f32ToF16(2 ** -26)).toBe(0); // below half the smallest subnormal
    expect(f32ToF16(2 ** -25 * 1.0001)).toBe(1);
  });
});
