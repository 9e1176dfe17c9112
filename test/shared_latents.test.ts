/**
 * The shared-latent definitions (shared (P&B), same partner, shared with the same partner) from separate encoder and
 * decoder matchings — checked against brute force, against scipy following Paulo & Belrose's analysis
 * (tools/reference/shared_latents_reference.py), on constructed cases, and in the stability statistics.
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { sharedLatents } from "../src/match/shared_latents.ts";
import { conditionStability } from "../src/match/stats.ts";
import { Rng } from "../src/tensor/rng.ts";
import type { Dictionary } from "../src/match/align.ts";

function cos(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let dot = 0, na = 0, nb = 0;
  for (let c = 0; c < d; c++) {
    dot += a[i * d + c]! * b[j * d + c]!;
    na += a[i * d + c]! ** 2;
    nb += b[j * d + c]! ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
}

/** The best one-to-one matching by trying every permutation (square, small n). */
function bruteMatch(a: Float32Array, b: Float32Array, n: number, d: number): number[] {
  let best = -Infinity, arg: number[] = [];
  for (const p of permutations(n)) {
    const total = p.reduce((s, j, i) => s + cos(a, i, b, j, d), 0);
    if (total > best + 1e-12) [best, arg] = [total, p];
  }
  return arg;
}

const gaussian = (n: number, d: number, rng: Rng) => rng.fillNormal(new Float32Array(n * d)) as Float32Array;

describe("shared latents (Paulo & Belrose)", () => {
  it("agrees with brute force on small random dictionaries", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 0, max: 1e6 }), fc.double({ min: -0.5, max: 0.95, noNaN: true }), (n, d, seed, threshold) => {
      const rng = Rng.stream(seed, "shared-test");
      const decA = gaussian(n, d, rng), encA = gaussian(n, d, rng);
      // B: A's latents permuted with noise, so some pairs agree and some do not.
      const perm = rng.permutation(n);
      const decB = new Float32Array(n * d), encB = new Float32Array(n * d);
      for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) {
        decB[perm[i]! * d + c] = decA[i * d + c]! + 0.6 * rng.normal();
        encB[perm[i]! * d + c] = encA[i * d + c]! + 0.9 * rng.normal();
      }
      const A: Dictionary = { decoder: decA, encoder: encA, n, d }, B: Dictionary = { decoder: decB, encoder: encB, n, d };
      const got = sharedLatents(A, B, "full", threshold);
      const dm = bruteMatch(decA, decB, n, d), em = bruteMatch(encA, encB, n, d);
      let pb = 0, same = 0, both = 0;
      for (let i = 0; i < n; i++) {
        const above = cos(decA, i, decB, dm[i]!, d) > threshold && cos(encA, i, encB, em[i]!, d) > threshold;
        if (above) pb++;
        if (dm[i] === em[i]) same++;
        if (above && dm[i] === em[i]) both++;
      }
      expect([got.sharedPB, got.samePartner, got.sharedSamePartner]).toEqual([pb, same, both]);
      expect(got.matched).toBe(n);
    }), { numRuns: 150 });
  });

  it("equals Paulo & Belrose's analysis (scipy linear_sum_assignment on encoder and decoder cosines), square and rectangular", () => {
    const fixture = JSON.parse(readFileSync(new URL("./fixtures/shared_latents/reference.json", import.meta.url), "utf8")) as {
      cases: { nA: number; nB: number; d: number; threshold: number; decA: number[]; encA: number[]; decB: number[]; encB: number[]; matched: number; sharedPB: number; samePartner: number; sharedSamePartner: number }[];
    };
    for (const c of fixture.cases) {
      const A: Dictionary = { decoder: Float32Array.from(c.decA), encoder: Float32Array.from(c.encA), n: c.nA, d: c.d };
      const B: Dictionary = { decoder: Float32Array.from(c.decB), encoder: Float32Array.from(c.encB), n: c.nB, d: c.d };
      const got = sharedLatents(A, B, "full", c.threshold);
      expect({ matched: got.matched, sharedPB: got.sharedPB, samePartner: got.samePartner, sharedSamePartner: got.sharedSamePartner })
        .toEqual({ matched: c.matched, sharedPB: c.sharedPB, samePartner: c.samePartner, sharedSamePartner: c.sharedSamePartner });
    }
    // The definitions differ on these cases: P&B's count is not the stricter one.
    expect(fixture.cases.some((c) => c.sharedPB > c.sharedSamePartner)).toBe(true);
  });

  it("shared (P&B) ignores which partner; same partner ignores the cosines; the strict count needs both", () => {
    const d = 16, n = 8, rng = Rng.stream(3, "shared-case");
    const dec = gaussian(n, d, rng), enc = gaussian(n, d, rng);
    const encB = enc.slice();
    // Latents 0–2 get unrelated encoders in B: their decoders still match exactly, their encoders do not.
    encB.set(gaussian(3, d, Rng.stream(4, "other")), 0);
    const got = sharedLatents({ decoder: dec, encoder: enc, n, d }, { decoder: dec.slice(), encoder: encB, n, d }, "full", 0.7);
    expect(got.decoderMatch.values.every((v) => v > 0.999)).toBe(true);
    const strict = got.latents.filter((l) => l.decoderPartner === l.encoderPartner && l.decoderCosine > 0.7 && l.encoderCosine > 0.7).map((l) => l.a);
    expect(strict.sort()).toEqual([3, 4, 5, 6, 7]);
    expect(got.sharedSamePartner).toBe(5);
    // Swapping two encoders in B: both matchings still find cosine-1 partners, but different ones for latents 3 and 4.
    const swapped = enc.slice();
    swapped.set(enc.subarray(3 * d, 4 * d), 4 * d);
    swapped.set(enc.subarray(4 * d, 5 * d), 3 * d);
    const s2 = sharedLatents({ decoder: dec, encoder: enc, n, d }, { decoder: dec.slice(), encoder: swapped, n, d }, "full", 0.7);
    expect([s2.sharedPB, s2.samePartner, s2.sharedSamePartner]).toEqual([8, 6, 6]);
    expect(() => sharedLatents({ decoder: dec, n, d }, { decoder: dec, n, d }, "full")).toThrow(/need both SAEs' encoders/);
  });

  it("enters the stability statistics with a bootstrap interval and a null baseline", () => {
    const d = 24, n = 16;
    const base = Rng.stream(9, "shared-stability");
    const dec = gaussian(n, d, base), enc = gaussian(n, d, base);
    const seeds = [1, 2, 3, 4].map((seed) => {
      const rng = Rng.stream(seed, "noise");
      const jitter = (m: Float32Array, s: number) => m.map((v) => v + s * rng.normal());
      return { seed, dict: { decoder: jitter(dec, 0.1), encoder: jitter(enc, seed === 4 ? 3 : 0.1), n, d } };
    });
    const s = conditionStability(seeds, { mode: "full", threshold: 0.9, bootstrap: 200, nullDraws: 10, rngSeed: 0, sharedThreshold: 0.7 });
    expect(s.shared).not.toBeNull();
    const sh = s.shared!;
    // Seeds 1–3 share nearly everything; seed 4's encoders are mostly noise: 3 of the 6 pairs share little.
    const perPair = s.pairs.map((p) => p.shared!.sharedPB / p.shared!.matched);
    expect(perPair.filter((f) => f > 0.9)).toHaveLength(3);
    expect(sh.sharedPB.value).toBeCloseTo(perPair.reduce((a, b) => a + b, 0) / 6, 12);
    for (const stat of [sh.sharedPB, sh.samePartner, sh.sharedSamePartner]) {
      expect(stat.ci!.lo).toBeLessThanOrEqual(stat.value);
      expect(stat.ci!.hi).toBeGreaterThanOrEqual(stat.value);
    }
    expect(sh.sharedPB.nullMean).toBe(0); // random 24-d directions never reach 0.7 on both sides
    expect(sh.sharedPB.pValue).toBeCloseTo(1 / 11, 12);
    expect(sh.sharedSamePartner.value).toBeLessThanOrEqual(Math.min(sh.sharedPB.value, sh.samePartner.value));
    // Random dictionaries pick the same partner in both matchings about as often as chance (1/n each).
    expect(sh.samePartner.nullMean!).toBeLessThan(0.3);
    const withoutEncoders = conditionStability(seeds.map((x) => ({ seed: x.seed, dict: { decoder: x.dict.decoder, n, d } })), { mode: "full", threshold: 0.9, bootstrap: 10, nullDraws: 2, rngSeed: 0, sharedThreshold: 0.7 });
    expect(withoutEncoders.shared).toBeNull();
  });
});
