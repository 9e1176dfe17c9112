import { describe, it, expect } from "vitest";
import { Rng } from "../src/tensor/rng.ts";
import { cosineMatrix, pearsonMatrix } from "../src/match/cosine.ts";
import { alignDictionaries, type Dictionary } from "../src/match/align.ts";
import { conditionStability, type SeedDictionary } from "../src/match/stats.ts";
import { summarise, quantile } from "../src/match/summary.ts";

function randomDecoder(n: number, d: number, seed: number): Float32Array {
  return Rng.stream(seed, "test/decoder").fillNormal(new Float32Array(n * d)) as Float32Array;
}

/** A copy of `dec` with rows permuted and a little noise: a "seed" that found the same features. */
function perturbed(dec: Float32Array, n: number, d: number, seed: number, noise: number): { decoder: Float32Array; perm: Uint32Array } {
  const rng = Rng.stream(seed, "test/perturb");
  const perm = rng.permutation(n);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j] = dec[perm[i]! * d + j]! + noise * rng.normal();
  return { decoder: out, perm };
}

describe("similarity matrices", () => {
  it("cosines of normalised rows, with zero-norm rows reported and set to 0", () => {
    const a = Float32Array.from([1, 0, 0, 0, 0, 0]);
    const b = Float32Array.from([2, 0, 0, 1, 1, 0]);
    const s = cosineMatrix(a, 2, b, 2, 3);
    expect(s.degenerateA).toEqual([1]);
    expect(s.matrix[0]).toBeCloseTo(1, 6);
    expect(s.matrix[1]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(Array.from(s.matrix.slice(2))).toEqual([0, 0]);
    expect(() => cosineMatrix(a, 2, b, 3, 3)).toThrow(/same hook \(same d_in\)/);
  });

  it("Pearson correlation: perfectly correlated, anti-correlated and constant columns", () => {
    const T = 5;
    const A = Float32Array.from([1, 5, 2, 4, 3, 3, 4, 2, 5, 1]); // [5,2]: col0 = 1..5, col1 = 5..1
    const B = Float32Array.from([2, 7, 4, 7, 6, 7, 8, 7, 10, 7]); // col0 = 2·col0(A), col1 constant
    const s = pearsonMatrix(A, 2, B, 2, T);
    expect(s.matrix[0]).toBeCloseTo(1, 6);
    expect(s.matrix[2]).toBeCloseTo(-1, 6);
    expect(s.degenerateB).toEqual([1]);
  });
});

describe("aligning two dictionaries", () => {
  const n = 40, d = 16;
  const base = randomDecoder(n, d, 1);
  const { decoder: other, perm } = perturbed(base, n, d, 2, 0);
  const A: Dictionary = { decoder: base, n, d };
  const B: Dictionary = { decoder: other, n, d };

  it("a permuted copy matches every feature with cosine 1 and recovers the permutation", () => {
    const m = alignDictionaries(A, B, "full");
    expect(m.summary.min).toBeGreaterThan(0.99999);
    expect(m.summary.fractionAbove["0.9"]).toBe(1);
    for (let t = 0; t < n; t++) expect(perm[m.indexB[t]!]).toBe(m.indexA[t]);
    expect(m.audit!.optimal).toBe(true);
  });

  it("live-only matching is rectangular and maps indices back to original feature ids", () => {
    const liveA = new Uint8Array(n).fill(1);
    const liveB = new Uint8Array(n).fill(1);
    for (let i = 0; i < 10; i++) liveA[i * 3] = 0;
    const m = alignDictionaries({ ...A, live: liveA }, { ...B, live: liveB }, "live-only");
    expect(m.liveCounts).toEqual([30, 40]);
    expect(m.values.length).toBe(30);
    for (let t = 0; t < 30; t++) {
      expect(liveA[m.indexA[t]!]).toBe(1);
      expect(perm[m.indexB[t]!]).toBe(m.indexA[t]);
    }
  });

  it("max-cosine is an upper bound on the one-to-one matching, in both directions", () => {
    const C: Dictionary = { decoder: randomDecoder(30, d, 5), n: 30, d };
    const full = alignDictionaries(A, C, "full");
    const mc = alignDictionaries(A, C, "max-cosine");
    expect(mc.values.length).toBe(n);
    expect(mc.reverseValues!.length).toBe(30);
    expect(mc.summary.mean).toBeGreaterThanOrEqual(full.summary.mean);
  });

  it("activation matching pairs features whose activations correlate", () => {
    const T = 200;
    const acts = Rng.stream(3, "acts").fillNormal(new Float32Array(T * n)) as Float32Array;
    const actsB = new Float32Array(T * n);
    for (let t = 0; t < T; t++) for (let i = 0; i < n; i++) actsB[t * n + i] = acts[t * n + perm[i]!]! * 2 + 1;
    const m = alignDictionaries({ ...A, activations: acts }, { ...B, activations: actsB }, "activation");
    expect(m.summary.min).toBeGreaterThan(0.9999);
    for (let t = 0; t < n; t++) expect(perm[m.indexB[t]!]).toBe(m.indexA[t]);
  });
});

describe("condition statistics across seeds", () => {
  const n = 24, d = 32;
  const truth = randomDecoder(n, d, 10);
  const seeds: SeedDictionary[] = [1, 2, 3, 4].map((s) => ({ seed: s, dict: { decoder: perturbed(truth, n, d, s, 0.05).decoder, n, d } }));
  const options = { mode: "full" as const, threshold: 0.9, bootstrap: 300, nullDraws: 40, rngSeed: 7 };

  it("stable dictionaries: high matched cosines, far above the random null, p at its floor", () => {
    const r = conditionStability(seeds, options);
    expect(r.pairs).toHaveLength(6);
    expect(r.pooled.length).toBe(6 * n);
    expect(r.median.value).toBeGreaterThan(0.95);
    expect(r.median.nullMean!).toBeLessThan(0.5);
    expect(r.median.pValue).toBeCloseTo(1 / 41, 10);
    expect(r.median.effectSize!).toBeGreaterThan(5);
    expect(r.median.ci!.lo).toBeLessThanOrEqual(r.median.value + 1e-3);
    expect(r.median.ci!.hi).toBeGreaterThanOrEqual(r.median.value - 1e-3);
    expect(r.fractionAboveThreshold.value).toBe(1);
    expect(r.allOptimal).toBe(true);
  });

  it("random dictionaries are indistinguishable from the null (p-values spread over [1/(R+1), 1])", () => {
    const random: SeedDictionary[] = [1, 2, 3].map((s) => ({ seed: s, dict: { decoder: randomDecoder(n, d, 100 + s), n, d } }));
    const r = conditionStability(random, { ...options, bootstrap: 50 });
    expect(r.median.pValue!).toBeGreaterThanOrEqual(1 / 41);
    expect(r.median.pValue!).toBeLessThanOrEqual(1);
    expect(r.median.pValue!).toBeGreaterThan(0.01);
    expect(Math.abs(r.median.value - r.median.nullMean!)).toBeLessThan(4 * r.median.nullSd!);
  });

  it("is reproducible to the digit for a fixed RNG seed, and changes with it", () => {
    const a = conditionStability(seeds, options);
    const b = conditionStability(seeds, options);
    expect(JSON.stringify([a.median, a.pwmcc, a.fractionAboveThreshold])).toBe(JSON.stringify([b.median, b.pwmcc, b.fractionAboveThreshold]));
    const c = conditionStability(seeds, { ...options, rngSeed: 8 });
    expect(c.median.nullMean).not.toBe(a.median.nullMean);
  });

  it("quantiles interpolate linearly like NumPy", () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([0, 10], 0.25)).toBe(2.5);
    const s = summarise([0.95, 0.1, 0.5, 0.91]);
    expect(s.fractionAbove["0.9"]).toBe(0.5);
    expect(s.countAbove["0.9"]).toBe(2);
  });
});
