/**
 * The statistics behind the findings: the symmetric eigensolver, principal-subspace overlap, Spearman's ρ, the
 * cross-seed presence histogram, and how they enter conditionStability (with nulls and intervals).
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { Rng } from "../src/tensor/rng.ts";
import { symmetricEigen } from "../src/tensor/symmetric_eigen.ts";
import { principalBasis, subspaceOverlap, energyRank } from "../src/match/subspace.ts";
import { averageRanks, spearman } from "../src/match/rank_correlation.ts";
import { crossSeedPresence, type SeedPairMatch } from "../src/match/cross_seed.ts";
import { alignDictionaries } from "../src/match/align.ts";
import { conditionStability, type SeedDictionary } from "../src/match/stats.ts";

const gaussian = (n: number, d: number, rng: Rng) => rng.fillNormal(new Float32Array(n * d)) as Float32Array;

describe("symmetric eigensolver (Householder + implicit QR)", () => {
  it("matches numpy on a known matrix", () => {
    const { values } = symmetricEigen([4, 1, 2, 1, 3, 0, 2, 0, 5], 3);
    [6.669079088282287, 3.476023602918134, 1.8548973087995775].forEach((v, i) => expect(values[i]).toBeCloseTo(v, 12));
  });

  it("gives A·v = λ·v and orthonormal vectors for random symmetric matrices, repeated eigenvalues and diagonal ones", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(1_000_000), fc.constantFrom("random", "repeated", "diagonal", "low-rank"), (n, seed, kind) => {
      const rng = Rng.stream(seed, "eigen-test");
      const a = new Float64Array(n * n);
      if (kind === "diagonal") for (let i = 0; i < n; i++) a[i * n + i] = rng.int(3);
      else {
        const rank = kind === "low-rank" ? Math.max(1, n >> 2) : n;
        const u = Array.from({ length: rank }, () => Array.from({ length: n }, () => rng.normal()));
        for (let k = 0; k < rank; k++) {
          const w = kind === "repeated" ? 1 + (k % 2) : rng.normal();
          for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += w * u[k]![i]! * u[k]![j]!;
        }
      }
      const { values, vectors } = symmetricEigen(a, n);
      let scale = 1e-300;
      for (const v of a) scale = Math.max(scale, Math.abs(v));
      for (let c = 0; c < n; c++) {
        if (c > 0) expect(values[c]!).toBeLessThanOrEqual(values[c - 1]! + 1e-12 * scale);
        for (let r = 0; r < n; r++) {
          let av = 0;
          for (let k = 0; k < n; k++) av += a[r * n + k]! * vectors[k * n + c]!;
          expect(Math.abs(av - values[c]! * vectors[r * n + c]!)).toBeLessThan(1e-10 * scale * n);
        }
        for (let c2 = 0; c2 <= c; c2++) {
          let dot = 0;
          for (let r = 0; r < n; r++) dot += vectors[r * n + c]! * vectors[r * n + c2]!;
          expect(Math.abs(dot - (c === c2 ? 1 : 0))).toBeLessThan(1e-10 * n);
        }
      }
    }), { numRuns: 80 });
  });

  it("refuses a matrix that is not symmetric", () => {
    expect(() => symmetricEigen([1, 2, 3, 4], 2)).toThrow(/not symmetric at \(0, 1\)/);
  });
});

describe("principal-subspace overlap", () => {
  it("is 1 for the same span in another basis, 0 for orthogonal spans, and near r/d for random ones", () => {
    const d = 24, rng = Rng.stream(1, "subspace-test");
    // Span of e0..e5 with two different bases (mixtures), and the span of e6..e11.
    const basisA = new Float32Array(6 * d), basisB = new Float32Array(6 * d), other = new Float32Array(6 * d);
    for (let i = 0; i < 6; i++) {
      basisA[i * d + i] = 1;
      for (let j = 0; j < 6; j++) basisB[i * d + j] = rng.normal();
      other[i * d + 6 + i] = 1;
    }
    const all = [0, 1, 2, 3, 4, 5];
    const A = principalBasis(basisA, d, all), B = principalBasis(basisB, d, all), C = principalBasis(other, d, all);
    const same = subspaceOverlap(A, B, 0.9, 6), orth = subspaceOverlap(A, C, 0.9, 6);
    expect(same.overlap).toBeCloseTo(1, 5);
    expect(Math.max(...same.anglesDegrees)).toBeLessThan(0.1);
    expect(orth.overlap).toBeLessThan(1e-6);
    expect(Math.min(...orth.anglesDegrees)).toBeGreaterThan(89.9);
    let total = 0;
    for (let t = 0; t < 40; t++) {
      const x = principalBasis(gaussian(200, d, rng), d, Array.from({ length: 200 }, (_, i) => i));
      const y = principalBasis(gaussian(200, d, rng), d, Array.from({ length: 200 }, (_, i) => i));
      total += subspaceOverlap(x, y, 0.9, 6).overlap;
    }
    expect(total / 40).toBeGreaterThan(0.15); // E = r/d = 0.25
    expect(total / 40).toBeLessThan(0.35);
  });

  it("takes the rank holding 90% of the energy, capped at d/2", () => {
    expect(energyRank(Float64Array.from([5, 3, 1, 1]), 0.9)).toBe(3);
    const d = 16, rows = Array.from({ length: 100 }, (_, i) => i);
    const g = principalBasis(gaussian(100, d, Rng.stream(2, "rank")), d, rows);
    expect(subspaceOverlap(g, g).rank).toBe(8); // isotropic: 90% needs ~15 of 16, the cap is 8
    expect(subspaceOverlap(g, g).overlap).toBeCloseTo(1, 6);
  });
});

describe("Spearman's rank correlation", () => {
  it("equals scipy.stats.spearmanr, ties included", () => {
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 14);
    expect(spearman([3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8])).toBeCloseTo(0.19885368120992467, 14);
    expect(Array.from(averageRanks([10, 20, 10, 30]))).toEqual([1.5, 3, 1.5, 4]);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
  });
});

describe("cross-seed presence", () => {
  it("counts, per latent, the other seeds holding a partner above the threshold", () => {
    const d = 20, n = 12, base = Rng.stream(5, "presence");
    const shared = gaussian(n, d, base);
    // Latents 0–5 appear in every seed (small noise); 6–11 are fresh random directions in each seed.
    const seeds = [1, 2, 3, 4];
    const dicts = seeds.map((s) => {
      const rng = Rng.stream(s, "presence-seed");
      const m = gaussian(n, d, rng);
      for (let i = 0; i < 6 * d; i++) m[i] = shared[i]! + 0.05 * rng.normal();
      return { seed: s, dict: { decoder: m, n, d } };
    });
    const pairs: SeedPairMatch[] = [];
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) pairs.push({ seedA: seeds[i]!, seedB: seeds[j]!, match: alignDictionaries(dicts[i]!.dict, dicts[j]!.dict, "full") });
    const h = crossSeedPresence(seeds, pairs, 0.7);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(4 * n);
    expect(h.counts[3]).toBe(4 * 6); // the planted latents have a partner in all three other seeds
    expect(h.onlyOne).toBeGreaterThan(0.4); // the random ones almost never reach 0.7 in 20 dimensions
    for (const l of h.latents.filter((x) => x.latent < 6)) expect(l.presence).toBe(3);
    expect(() => crossSeedPresence(seeds, pairs.slice(1), 0.7)).toThrow(/5 distinct seed pairs given, 4 seeds need 6/);
  });
});

describe("the findings in conditionStability", () => {
  function planted(seedCount: number, frequencies: boolean): SeedDictionary[] {
    const d = 16, n = 24, base = Rng.stream(11, "findings");
    const stable = gaussian(12, d, base);
    // Latents 12–23 of every seed lie in the span of 4 fixed directions, in a random basis each time: individually
    // unstable, one reproducible subspace.
    const span = gaussian(4, d, base);
    return Array.from({ length: seedCount }, (_, s) => {
      const rng = Rng.stream(s + 1, "findings-seed");
      const m = new Float32Array(n * d);
      for (let i = 0; i < 12 * d; i++) m[i] = stable[i]! + 0.05 * rng.normal();
      for (let i = 12; i < n; i++) for (let k = 0; k < 4; k++) { const w = rng.normal(); for (let c = 0; c < d; c++) m[i * d + c] += w * span[k * d + c]!; }
      const frequency = frequencies ? Float64Array.from({ length: n }, (_, i) => (i < 12 ? 0.05 : 0.001) * (1 + 0.1 * rng.uniform())) : undefined;
      return { seed: s + 1, dict: { decoder: m, n, d }, ...(frequency ? { frequency } : {}) };
    });
  }

  it("reports presence, the unmatched latents' subspace overlap against random subspaces, and the frequency correlation", () => {
    const s = conditionStability(planted(5, true), { mode: "full", threshold: 0.9, bootstrap: 100, nullDraws: 20, rngSeed: 0 });
    expect(s.presence.counts[4]).toBeGreaterThanOrEqual(5 * 12); // the 12 stable latents, in every seed
    expect(s.presence.nullFractions![0]).toBeGreaterThan(0.9); // random dictionaries: almost everything in one SAE only
    // The unstable latents share one 4-dimensional span: their principal subspaces overlap far above random ones.
    expect(s.subspace.pairs).toBe(10);
    // (In 4 dimensions some of those latents match each other above 0.7 by chance; the rest — 3 to 7 per seed
    // here — are the unmatched sets, each spanning part of the same 4-d span.)
    expect(s.subspace.unmatched.value).toBeGreaterThan(0.5);
    expect(s.subspace.unmatched.nullMean!).toBeLessThan(0.25);
    expect(s.subspace.unmatched.effectSize!).toBeGreaterThan(10);
    expect(s.subspace.matched.value).toBeGreaterThan(0.9);
    expect(s.subspace.unmatched.pValue!).toBeCloseTo(1 / 21, 12);
    // Frequent latents are the stable ones here: ρ(matched cosine, frequency) is strongly positive.
    expect(s.frequency!.rho.value).toBeGreaterThan(0.7);
    expect(s.frequency!.deciles).toHaveLength(10);
    expect(s.frequency!.rho.ci!.lo).toBeLessThanOrEqual(s.frequency!.rho.value);
    expect(conditionStability(planted(3, false), { mode: "full", threshold: 0.9, bootstrap: 10, nullDraws: 2, rngSeed: 0 }).frequency).toBeNull();
  });

  it("keeps the existing statistics unchanged (median, fraction, PW-MCC and their intervals)", () => {
    const dicts = planted(4, false);
    const a = conditionStability(dicts, { mode: "full", threshold: 0.9, bootstrap: 200, nullDraws: 10, rngSeed: 3 });
    const b = conditionStability(dicts, { mode: "full", threshold: 0.9, bootstrap: 200, nullDraws: 10, rngSeed: 3, subspacePairs: 0 });
    expect([a.median, a.fractionAboveThreshold, a.pwmcc]).toEqual([b.median, b.fractionAboveThreshold, b.pwmcc]);
    expect(b.subspace.pairs).toBe(0);
    expect(b.subspace.unmatched.value).toBeNaN();
  });
});
