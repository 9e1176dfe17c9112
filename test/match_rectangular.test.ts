/**
 * Matching dictionaries of different widths (n_A ≠ n_B): min(n_A, n_B) certified-optimal pairs, and the larger
 * side's leftover features reported with how close each came — checked against brute force on small cases, on
 * planted dictionaries (a narrow SAE whose features are a subset of a wide one's), and across libraries.
 */
import { describe, it, expect } from "vitest";
import { join } from "node:path";
import { alignDictionaries, type Dictionary } from "../src/match/align.ts";
import { Rng } from "../src/tensor/rng.ts";
import { loadDecoder } from "../src/sae/io.ts";

function randomDictionary(n: number, d: number, seed: number): Dictionary {
  const decoder = Rng.stream(seed, "rect").fillNormal(new Float32Array(n * d)) as Float32Array;
  return { decoder, n, d };
}

function cosine(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let dot = 0, na = 0, nb = 0;
  for (let c = 0; c < d; c++) {
    dot += a[i * d + c]! * b[j * d + c]!;
    na += a[i * d + c]! ** 2;
    nb += b[j * d + c]! ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

/** The best total over every injective map of the smaller side into the larger (brute force). */
function bruteForce(A: Dictionary, B: Dictionary): number {
  const small = A.n <= B.n ? A : B, large = A.n <= B.n ? B : A;
  let best = -Infinity;
  const used = new Uint8Array(large.n);
  const rec = (i: number, total: number) => {
    if (i === small.n) {
      best = Math.max(best, total);
      return;
    }
    for (let j = 0; j < large.n; j++) {
      if (used[j]) continue;
      used[j] = 1;
      rec(i + 1, total + cosine(small.decoder, i, large.decoder, j, small.d));
      used[j] = 0;
    }
  };
  rec(0, 0);
  return best;
}

describe("rectangular matching", () => {
  it.each([[3, 6], [6, 3], [4, 7], [5, 5]])("n_A = %i, n_B = %i: optimal pairs and the unmatched side", (nA, nB) => {
    const A = randomDictionary(nA, 5, nA * 10 + nB), B = randomDictionary(nB, 5, nA * 100 + nB);
    const m = alignDictionaries(A, B, "full");
    expect(m.values.length).toBe(Math.min(nA, nB));
    expect(m.audit?.optimal).toBe(true);
    const total = Array.from(m.values).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(bruteForce(A, B), 5);
    const u = m.unmatched!;
    expect(u.side).toBe(nA > nB ? "A" : nB > nA ? "B" : null);
    expect(u.ids.length).toBe(Math.abs(nA - nB));
    // The unmatched ids are exactly the larger side's features that appear in no pair.
    const matched = new Set(Array.from(nA > nB ? m.indexA : m.indexB));
    const large = Math.max(nA, nB);
    expect([...matched, ...u.ids].sort((a, b) => a - b)).toEqual(Array.from({ length: nA === nB ? nA : large }, (_, i) => i).slice(0, nA === nB ? nA : large));
    // Each leftover's best value is its best cosine to any feature of the other side.
    u.ids.forEach((id, t) => {
      const other = u.side === "A" ? B : A, mine = u.side === "A" ? A : B;
      let best = -Infinity;
      for (let j = 0; j < other.n; j++) best = Math.max(best, cosine(mine.decoder, id, other.decoder, j, 5));
      expect(u.bestValues[t]).toBeCloseTo(best, 5);
    });
  });

  it("a narrow dictionary planted inside a wide one is found exactly; the rest of the wide one is reported unmatched", () => {
    const wide = randomDictionary(40, 16, 7);
    const pick = [3, 11, 17, 25, 38, 0, 9, 30];
    const narrow: Dictionary = { decoder: new Float32Array(pick.length * 16), n: pick.length, d: 16 };
    pick.forEach((src, i) => narrow.decoder.set(wide.decoder.subarray(src * 16, (src + 1) * 16), i * 16));
    const m = alignDictionaries(narrow, wide, "full");
    expect(Array.from(m.indexB)).toEqual(pick);
    expect(m.summary.fractionAbove["0.9"]).toBe(1);
    expect(m.unmatched!.side).toBe("B");
    expect(m.unmatched!.ids.length).toBe(32);
    expect(Array.from(m.unmatched!.ids).some((id) => pick.includes(id))).toBe(false);
  });

  it("live-only with different live counts reports the unmatched live features by their original ids", () => {
    const A = { ...randomDictionary(10, 6, 1), live: Uint8Array.from([1, 0, 1, 1, 0, 1, 1, 1, 0, 1]) };
    const B = { ...randomDictionary(8, 6, 2), live: Uint8Array.from([1, 1, 0, 1, 1, 0, 0, 1]) };
    const m = alignDictionaries(A, B, "live-only");
    expect(m.liveCounts).toEqual([7, 5]);
    expect(m.values.length).toBe(5);
    expect(m.unmatched!.side).toBe("A");
    expect(m.unmatched!.ids.length).toBe(2);
    for (const id of m.unmatched!.ids) expect(A.live[id]).toBe(1);
  });

  it("SAEs of different libraries and widths match (a sparsify SAE against a dictionary_learning one)", () => {
    const fix = join(import.meta.dirname, "fixtures", "other_libraries");
    const a = loadDecoder(join(fix, "sparsify_repo", "layers.3")).sae.params, b = loadDecoder(join(fix, "dl_topk")).sae.params;
    const narrow = { decoder: a.wDec.subarray(0, 10 * a.dIn), n: 10, d: a.dIn };
    const m = alignDictionaries(narrow, { decoder: b.wDec, n: b.dSae, d: b.dIn }, "full");
    expect(m.values.length).toBe(10);
    expect(m.unmatched!.ids.length).toBe(14);
    expect(m.audit?.optimal).toBe(true);
  });
});
