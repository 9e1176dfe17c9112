import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { detExp } from "../src/tensor/det_math.ts";
import { geluScalar } from "../src/tensor/ops.ts";

describe("detExp", () => {
  it("agrees with Math.exp to 1e-13 relative wherever the result is a normal number", () => {
    let worst = 0;
    for (let x = -708; x < 709.7; x += 0.00731) worst = Math.max(worst, Math.abs(detExp(x) - Math.exp(x)) / Math.exp(x));
    expect(worst).toBeLessThan(1e-13);
    fc.assert(fc.property(fc.double({ min: -708, max: 709, noNaN: true }), (x) => Math.abs(detExp(x) - Math.exp(x)) <= 1e-13 * Math.exp(x)));
    // Subnormal results: within a few units of the smallest subnormal.
    for (let x = -744; x < -708; x += 0.0917) expect(Math.abs(detExp(x) - Math.exp(x))).toBeLessThanOrEqual(Math.max(1e-13 * Math.exp(x), 8 * 2 ** -1074));
  });

  it("handles the edges like Math.exp", () => {
    expect(detExp(0)).toBe(1);
    expect(detExp(-0)).toBe(1);
    expect(detExp(1)).toBeCloseTo(Math.E, 14);
    expect(detExp(-Infinity)).toBe(0);
    expect(detExp(-800)).toBe(0);
    expect(detExp(Infinity)).toBe(Infinity);
    expect(detExp(710)).toBe(Infinity);
    expect(Number.isNaN(detExp(NaN))).toBe(true);
    expect(detExp(709.78)).toBeGreaterThan(1.7e308);
    expect(Number.isFinite(detExp(709.78))).toBe(true);
    const tiny = detExp(-744); // subnormal
    expect(tiny).toBeGreaterThan(0);
    expect(Math.abs(tiny - Math.exp(-744)) / Math.exp(-744)).toBeLessThan(1e-3); // only a few significant bits exist there
  });

  it("gives GPT-2's GELU to float32 precision", () => {
    const tanhForm = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    for (let v = -12; v <= 12; v += 0.001) expect(Math.abs(geluScalar(v) - tanhForm(v))).toBeLessThan(1e-7 * Math.max(1, Math.abs(v)));
    expect(geluScalar(0)).toBe(0);
    expect(geluScalar(-100)).toBe(-0);
    expect(geluScalar(100)).toBe(100);
  });
});
