/**
 * The deterministic elementary functions of src/tensor/det_special.ts against Math.* and scipy-grade references:
 * pow, expm1, tanh, sin/cos (rotary angles), Φ and the exact GELU, SiLU.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { detExpm1, detPow, detSinCos, detTanh, geluErfScalar, normalCdf, siluScalar } from "../src/tensor/det_special.ts";

describe("deterministic special functions", () => {
  it("detPow and detExpm1 agree with Math to 1e-14 relative", () => {
    for (const base of [10000, 500000, 1e6, 500, 2.5]) {
      for (let i = 0; i < 64; i++) {
        const y = -(2 * i) / 128;
        expect(Math.abs(detPow(base, y) - base ** y) / base ** y).toBeLessThan(1e-14);
      }
    }
    fc.assert(fc.property(fc.double({ min: -3, max: 3, noNaN: true }), (y) => Math.abs(detExpm1(y) - Math.expm1(y)) <= 1e-15 * Math.max(Math.abs(Math.expm1(y)), 1e-300) + 1e-300));
    expect(detExpm1(1e-10)).toBe(Math.expm1(1e-10));
  });

  it("detTanh has full relative accuracy near 0 and saturates to ±1", () => {
    let worst = 0;
    for (let x = -25; x < 25; x += 0.0013) worst = Math.max(worst, Math.abs(detTanh(x) - Math.tanh(x)) / Math.max(Math.abs(Math.tanh(x)), 1e-300));
    expect(worst).toBeLessThan(3e-15);
    expect(detTanh(1e-12)).toBeCloseTo(1e-12, 25);
    expect(detTanh(100)).toBe(1);
    expect(detTanh(-100)).toBe(-1);
    expect(Number.isNaN(detTanh(NaN))).toBe(true);
  });

  it("detSinCos is within 3e-16 of Math.sin/cos on [−7, 7] and 4e-15 over rotary angles up to 1e5 radians", () => {
    const out = new Float64Array(2);
    let worst = 0;
    for (let x = -1e5; x < 1e5; x += 1.7371) {
      detSinCos(x, out);
      worst = Math.max(worst, Math.abs(out[0]! - Math.sin(x)), Math.abs(out[1]! - Math.cos(x)));
    }
    expect(worst).toBeLessThan(4e-15);
    let near = 0;
    for (let x = -7; x < 7; x += 0.001) {
      detSinCos(x, out);
      near = Math.max(near, Math.abs(out[0]! - Math.sin(x)), Math.abs(out[1]! - Math.cos(x)));
    }
    expect(near).toBeLessThan(3e-16);
    detSinCos(0, out);
    expect([out[0], out[1]]).toEqual([0, 1]);
  });

  it("normalCdf matches scipy.special.ndtr to 1e-15 absolute; geluErf and silu are their formulas", () => {
    // scipy 1.10 ndtr at these points (float64).
    const scipy: [number, number][] = [
      [-9, 1.1285884059538324e-19], [-8.1, 2.7479593923982212e-16], [-8, 6.2209605742717405e-16], [-5, 2.8665157187919328e-7],
      [-3.3, 0.00048342414238377744], [-1, 0.15865525393145707], [-0.5, 0.30853753872598688], [0, 0.5], [0.1, 0.53982783727702899],
      [1, 0.84134474606854293], [2, 0.97724986805182079], [4.24, 0.99998882401066791], [7.99, 0.99999999999999933], [10, 1],
    ];
    for (const [x, want] of scipy) expect(Math.abs(normalCdf(x) - want), `Φ(${x})`).toBeLessThan(1e-15);
    // Across every table interval: monotone and within [0, 1].
    let prev = 0, violations = 0;
    for (let x = -12; x <= 12; x += 0.0009) {
      const p = normalCdf(x);
      if (p < prev - 1e-16 || p > 1) violations++;
      prev = p;
    }
    expect(violations).toBe(0);
    expect(geluErfScalar(1.5)).toBeCloseTo(1.5 * 0.9331927987311419, 15);
    expect(siluScalar(2)).toBeCloseTo(2 / (1 + Math.exp(-2)), 15);
    expect(siluScalar(-800)).toBe(-0);
  });
});
