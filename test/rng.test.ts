import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { Rng, detLog, fnv1a64 } from "../src/tensor/rng.ts";

describe("Rng (xoshiro128** seeded by SplitMix64)", () => {
  it("reproduces fixed known outputs, so every machine and Node version sees the same stream", () => {
    // These constants were produced by this implementation once and frozen: any change to the generator,
    // seeding or stream derivation changes them and must be a deliberate, documented break.
    const r = new Rng(0);
    expect([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]).toEqual(KNOWN_SEED0);
    const s = Rng.stream(42, "sae/init");
    expect([s.nextU32(), s.nextU32(), s.nextU32()]).toEqual(KNOWN_STREAM42);
  });

  it("matches an independent BigInt implementation of SplitMix64 + xoshiro128**", () => {
    // Independent re-derivation from the published algorithms, using BigInt arithmetic only.
    const M64 = (1n << 64n) - 1n;
    const M32 = 0xffffffffn;
    let sm = 12345n;
    const next64 = () => {
      sm = (sm + 0x9e3779b97f4a7c15n) & M64;
      let z = sm;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
      return z ^ (z >> 31n);
    };
    const a = next64(), b = next64();
    const s = [a & M32, a >> 32n, b & M32, b >> 32n];
    const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M32;
    const expected: number[] = [];
    for (let i = 0; i < 100; i++) {
      expected.push(Number((rotl((s[1]! * 5n) & M32, 7n) * 9n) & M32));
      const t = (s[1]! << 9n) & M32;
      s[2] ^= s[0]!; s[3] ^= s[1]!; s[1] ^= s[2]!; s[0] ^= s[3]!; s[2] ^= t; s[3] = rotl(s[3]!, 11n);
    }
    const r = new Rng(12345);
    expect(Array.from({ length: 100 }, () => r.nextU32())).toEqual(expected);
  });

  it("gives independent named streams and identical repeated streams", () => {
    const a1 = Rng.stream(7, "a"), a2 = Rng.stream(7, "a"), b = Rng.stream(7, "b"), c = Rng.stream(8, "a");
    const take = (r: Rng) => Array.from({ length: 8 }, () => r.nextU32());
    const x = take(a1);
    expect(take(a2)).toEqual(x);
    expect(take(b)).not.toEqual(x);
    expect(take(c)).not.toEqual(x);
    expect(fnv1a64("")).toBe(0xcbf29ce484222325n);
    expect(fnv1a64("a")).toBe(0xaf63dc4c8601ec8cn); // FNV-1a 64 test vector
  });

  it("uniform() lies in [0,1) with the right mean and variance", () => {
    const r = Rng.stream(1, "u");
    let s = 0, s2 = 0, lo = Infinity, hi = -Infinity;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      lo = Math.min(lo, u); hi = Math.max(hi, u);
      s += u; s2 += u * u;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(Math.abs(s / n - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(s2 / n - s * s / n / n - 1 / 12)).toBeLessThan(0.002);
  });

  it("normal() has mean 0, variance 1 and Gaussian tails", () => {
    const r = Rng.stream(2, "n");
    const n = 200_000;
    let s = 0, s2 = 0, beyond2 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z; s2 += z * z;
      if (Math.abs(z) > 2) beyond2++;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.015);
    expect(Math.abs(beyond2 / n - 0.0455)).toBeLessThan(0.003);
  });

  it("int(n) is unbiased: chi-square over a non-power-of-two range", () => {
    const r = Rng.stream(3, "i");
    const bins = 7, draws = 70_000;
    const counts = new Array(bins).fill(0);
    for (let i = 0; i < draws; i++) counts[r.int(bins)]++;
    const e = draws / bins;
    const chi2 = counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(22.46); // p = 0.001 critical value, 6 degrees of freedom
    expect(() => r.int(0)).toThrow(/n must be/);
  });

  it("shuffle is a permutation, and every position is reachable", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 1000 }), (n, seed) => {
      const p = Rng.stream(seed, "perm").permutation(n);
      expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }));
    const r = Rng.stream(4, "s");
    const firstSeen = new Set<number>();
    for (let i = 0; i < 400; i++) firstSeen.add(r.shuffle([0, 1, 2, 3, 4])[0]!);
    expect(firstSeen.size).toBe(5);
  });

  it("detLog agrees with Math.log to within 1 ulp-ish and is exact at powers of two", () => {
    fc.assert(fc.property(fc.double({ min: 1e-300, max: 1e300, noNaN: true }), (x) => {
      const d = detLog(x), m = Math.log(x);
      expect(Math.abs(d - m)).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(m)));
    }));
    expect(detLog(1)).toBe(0);
    expect(detLog(1024)).toBe(10 * 0.6931471805599453);
    expect(detLog(0)).toBe(-Infinity);
    expect(detLog(-1)).toBeNaN();
    expect(Math.abs(detLog(5e-324) - Math.log(5e-324))).toBeLessThan(1e-12);
  });
});

const KNOWN_SEED0 = [3737715805, 2584255861, 2876756834, 3286328325];
const KNOWN_STREAM42 = [1400556284, 3702529639, 601758112];
