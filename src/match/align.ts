/**
 * Aligning two SAEs' dictionaries.
 *
 *   full        Hungarian matching on the cosine matrix of all decoder directions (one-to-one).
 *   live-only   the same restricted to features that fired (feature_analysis dead = false); rectangular when the
 *               live counts differ; indices are mapped back to the original feature ids.
 *   max-cosine  each feature's best partner with no one-to-one constraint, in both directions (A→B, B→A):
 *               an upper bound that shows how much the one-to-one constraint costs.
 *   activation  Hungarian matching on the Pearson correlation of the two SAEs' feature activations on the same
 *               held-out tokens — the second opinion the seed study listed as future work.
 */
import { linearSumAssignment, type OptimalityAudit } from "./assignment.ts";
import { cosineMatrix, pearsonMatrix, MatchShapeError, type SimilarityMatrix } from "./cosine.ts";
import { summarise, type MatchSummary } from "./summary.ts";

export type MatchMode = "full" | "live-only" | "max-cosine" | "activation";
export const MATCH_MODES: readonly MatchMode[] = ["full", "live-only", "max-cosine", "activation"];

export interface Dictionary {
  /** Decoder directions [n, d] (rows of W_dec). */
  decoder: Float32Array;
  n: number;
  d: number;
  /** 1 = live; absent = all live. */
  live?: Uint8Array;
  /** Feature activations [T, n] on held-out tokens (activation mode). */
  activations?: Float32Array;
}

export interface MatchedPair {
  a: number;
  b: number;
  value: number;
}

export interface PairMatch {
  mode: MatchMode;
  /** One similarity per matched pair (for max-cosine: A→B best values). */
  values: Float64Array;
  indexA: Int32Array;
  indexB: Int32Array;
  summary: MatchSummary;
  /** For max-cosine: B→A best values. */
  reverseValues?: Float64Array;
  reverseSummary?: MatchSummary;
  audit: OptimalityAudit | null;
  best: MatchedPair[];
  degenerateA: number[];
  degenerateB: number[];
  liveCounts: [number, number];
}

function liveIndices(dict: Dictionary): Int32Array {
  if (!dict.live) return Int32Array.from({ length: dict.n }, (_, i) => i);
  if (dict.live.length !== dict.n) throw new MatchShapeError(`live mask has ${dict.live.length} entries for ${dict.n} features`);
  const out: number[] = [];
  dict.live.forEach((v, i) => v && out.push(i));
  return Int32Array.from(out);
}

function subsetRows(m: Float32Array, d: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(m.subarray(r * d, (r + 1) * d), i * d));
  return out;
}

function subsetColumns(m: Float32Array, T: number, n: number, cols: Int32Array): Float32Array {
  const out = new Float32Array(T * cols.length);
  for (let t = 0; t < T; t++) cols.forEach((c, i) => (out[t * cols.length + i] = m[t * n + c]!));
  return out;
}

function topPairs(indexA: Int32Array, indexB: Int32Array, values: Float64Array, count: number): MatchedPair[] {
  return Array.from(values.keys()).sort((x, y) => values[y]! - values[x]! || x - y).slice(0, count)
    .map((t) => ({ a: indexA[t]!, b: indexB[t]!, value: values[t]! }));
}

function hungarian(sim: SimilarityMatrix, rowsA: Int32Array, rowsB: Int32Array, mode: MatchMode, threshold?: number): PairMatch {
  const result = linearSumAssignment(sim.matrix, sim.nA, sim.nB, { sense: "max" });
  const n = result.rowIndices.length;
  const values = new Float64Array(n);
  const indexA = new Int32Array(n);
  const indexB = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    const i = result.rowIndices[t]!, j = result.colIndices[t]!;
    values[t] = sim.matrix[i * sim.nB + j]!;
    indexA[t] = rowsA[i]!;
    indexB[t] = rowsB[j]!;
  }
  return {
    mode, values, indexA, indexB, summary: summarise(values, threshold), audit: result.audit,
    best: topPairs(indexA, indexB, values, 10),
    degenerateA: sim.degenerateA.map((i) => rowsA[i]!), degenerateB: sim.degenerateB.map((j) => rowsB[j]!),
    liveCounts: [rowsA.length, rowsB.length],
  };
}

/** Match two dictionaries in one of the four modes. */
export function alignDictionaries(A: Dictionary, B: Dictionary, mode: MatchMode, options: { threshold?: number } = {}): PairMatch {
  if (A.d !== B.d) throw new MatchShapeError(`cannot match decoders of shapes [${A.n}, ${A.d}] and [${B.n}, ${B.d}]: d_in differs`);
  const allA = Int32Array.from({ length: A.n }, (_, i) => i);
  const allB = Int32Array.from({ length: B.n }, (_, i) => i);
  switch (mode) {
    case "full":
      return hungarian(cosineMatrix(A.decoder, A.n, B.decoder, B.n, A.d), allA, allB, mode, options.threshold);
    case "live-only": {
      const la = liveIndices(A), lb = liveIndices(B);
      const sim = cosineMatrix(subsetRows(A.decoder, A.d, la), la.length, subsetRows(B.decoder, B.d, lb), lb.length, A.d);
      return hungarian(sim, la, lb, mode, options.threshold);
    }
    case "activation": {
      if (!A.activations || !B.activations) throw new MatchShapeError("activation matching needs both SAEs' feature activations on the same tokens");
      const T = A.activations.length / A.n;
      if (B.activations.length / B.n !== T) throw new MatchShapeError("activation matching: the two SAEs were run on different numbers of tokens");
      const la = liveIndices(A), lb = liveIndices(B);
      const sim = pearsonMatrix(subsetColumns(A.activations, T, A.n, la), la.length, subsetColumns(B.activations, T, B.n, lb), lb.length, T);
      return hungarian(sim, la, lb, mode, options.threshold);
    }
    case "max-cosine": {
      const sim = cosineMatrix(A.decoder, A.n, B.decoder, B.n, A.d);
      const forward = new Float64Array(A.n), reverse = new Float64Array(B.n).fill(-Infinity);
      const indexB = new Int32Array(A.n);
      for (let i = 0; i < A.n; i++) {
        let best = -Infinity, bj = 0;
        for (let j = 0; j < B.n; j++) {
          const v = sim.matrix[i * B.n + j]!;
          if (v > best) { best = v; bj = j; }
          if (v > reverse[j]!) reverse[j] = v;
        }
        forward[i] = best;
        indexB[i] = bj;
      }
      return {
        mode, values: forward, indexA: allA, indexB, summary: summarise(forward, options.threshold),
        reverseValues: reverse, reverseSummary: summarise(reverse, options.threshold), audit: null,
        best: topPairs(allA, indexB, forward, 10), degenerateA: sim.degenerateA, degenerateB: sim.degenerateB,
        liveCounts: [A.n, B.n],
      };
    }
    default:
      throw new MatchShapeError(`unknown match mode "${String(mode)}"; use ${MATCH_MODES.join(", ")}`);
  }
}
