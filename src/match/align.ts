/**
 * Aligning two SAEs' dictionaries, in one of four modes:
 *
 *   full        exact one-to-one matching (Hungarian, maximising total cosine) of all decoder directions.
 *   live-only   the same restricted to live features (live mask = 1, e.g. features that fired on the training
 *               rows); rectangular when the live counts differ, so min(liveA, liveB) pairs. Reported indices are
 *               the original feature ids.
 *   max-cosine  each feature's best partner by cosine with no one-to-one constraint, in both directions (A→B for
 *               every feature of A, B→A for every feature of B): an upper bound on what any matching can reach,
 *               which shows how much the one-to-one constraint costs. All features, live or not.
 *   activation  exact one-to-one matching on the Pearson correlation of the two SAEs' feature activations on the
 *               same tokens, over live features (a dead feature's activations are constant, so it has no
 *               correlation to speak of) — a functional second opinion next to the geometric one.
 *
 * Every one-to-one matching comes with the solver's optimality certificate (`audit`).
 */
import { linearSumAssignment, type OptimalityAudit } from "./assignment.ts";
import { cosineMatrix, pearsonMatrix, MatchShapeError, type SimilarityMatrix } from "./cosine.ts";
import { summarise, type MatchSummary } from "./summary.ts";

export type MatchMode = "full" | "live-only" | "max-cosine" | "activation";
export const MATCH_MODES: readonly MatchMode[] = ["full", "live-only", "max-cosine", "activation"];

export interface Dictionary {
  /** Decoder directions [n, d] (the rows of W_dec), row-major. */
  decoder: Float32Array;
  n: number;
  d: number;
  /** live[i] = 1 when feature i is live; absent means every feature is live. */
  live?: Uint8Array;
  /** Feature activations [T, n] on tokens shared with the other SAE (activation mode only). */
  activations?: Float32Array;
  /** Encoder directions [n, d], latent-major (for the shared-latent criterion, shared_latents.ts). */
  encoder?: Float32Array;
}

export interface MatchedPair {
  /** Feature id in A. */
  a: number;
  /** Feature id in B. */
  b: number;
  value: number;
}

export interface AlignOptions {
  /** An extra threshold to report next to 0.5, 0.7 and 0.9. */
  threshold?: number;
  /** How many best matches to list (default 10). */
  topN?: number;
}

export interface PairMatch {
  mode: MatchMode;
  /** The similarity of each matched pair (max-cosine: each A feature's best value). */
  values: Float64Array;
  /** Original feature ids of the pairs: (indexA[t], indexB[t]) has similarity values[t]; sorted by indexA. */
  indexA: Int32Array;
  indexB: Int32Array;
  summary: MatchSummary;
  /** max-cosine only: each B feature's best value over A, and its summary. */
  reverseValues?: Float64Array;
  reverseIndexA?: Int32Array;
  reverseSummary?: MatchSummary;
  /** Optimality certificate of the one-to-one matching; null for max-cosine (nothing to certify). */
  audit: OptimalityAudit | null;
  /** The topN pairs with the highest similarity, best first (ties: lower indexA first). */
  best: MatchedPair[];
  /** Original ids of features with no direction (zero norm / constant activations); their similarities are 0. */
  degenerateA: number[];
  degenerateB: number[];
  /** Number of features that took part on each side. */
  liveCounts: [number, number];
  /**
   * One-to-one modes: the features that took part but got no partner — all on the larger side, n_larger − n_smaller
   * of them, empty when the sides are equal (dictionaries of different widths, or different live counts).
   */
  unmatched?: UnmatchedSide;
}

/** The features a rectangular matching left without a partner, and how close each came to the other side. */
export interface UnmatchedSide {
  /** Which dictionary they belong to (null when every feature was matched). */
  side: "A" | "B" | null;
  /** Their original feature ids, ascending. */
  ids: Int32Array;
  /** Each one's best similarity to any participating feature of the other side (no one-to-one constraint). */
  bestValues: Float64Array;
  summary: MatchSummary;
}

function allIndices(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

function liveIndices(dict: Dictionary, side: string): Int32Array {
  if (!dict.live) return allIndices(dict.n);
  if (dict.live.length !== dict.n) {
    throw new MatchShapeError(`live mask of ${side} has ${dict.live.length} entries for ${dict.n} features; pass one entry per feature`);
  }
  const out: number[] = [];
  for (let i = 0; i < dict.n; i++) if (dict.live[i]) out.push(i);
  return Int32Array.from(out);
}

function subsetRows(m: Float32Array, d: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * d);
  for (let k = 0; k < rows.length; k++) out.set(m.subarray(rows[k]! * d, (rows[k]! + 1) * d), k * d);
  return out;
}

function subsetColumns(m: Float32Array, T: number, n: number, cols: Int32Array): Float32Array {
  const w = cols.length;
  const out = new Float32Array(T * w);
  for (let t = 0; t < T; t++) for (let k = 0; k < w; k++) out[t * w + k] = m[t * n + cols[k]!]!;
  return out;
}

function topPairs(indexA: Int32Array, indexB: Int32Array, values: Float64Array, count: number): MatchedPair[] {
  const order = Array.from({ length: values.length }, (_, t) => t);
  order.sort((x, y) => values[y]! - values[x]! || indexA[x]! - indexA[y]!);
  return order.slice(0, count).map((t) => ({ a: indexA[t]!, b: indexB[t]!, value: values[t]! }));
}

/** One-to-one matching on a similarity matrix whose rows/columns are the features rowsA / rowsB. */
function hungarian(sim: SimilarityMatrix, rowsA: Int32Array, rowsB: Int32Array, mode: MatchMode, options: AlignOptions): PairMatch {
  const result = linearSumAssignment(sim.matrix, sim.nA, sim.nB, { sense: "max" });
  const n = result.rowIndices.length;
  const values = new Float64Array(n);
  const indexA = new Int32Array(n);
  const indexB = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    const i = result.rowIndices[t]!;
    const j = result.colIndices[t]!;
    values[t] = sim.matrix[i * sim.nB + j]!;
    indexA[t] = rowsA[i]!;
    indexB[t] = rowsB[j]!;
  }
  return {
    mode, values, indexA, indexB, summary: summarise(values, options.threshold), audit: result.optimality,
    best: topPairs(indexA, indexB, values, options.topN ?? 10),
    degenerateA: sim.degenerateA.map((i) => rowsA[i]!), degenerateB: sim.degenerateB.map((j) => rowsB[j]!),
    liveCounts: [rowsA.length, rowsB.length],
    unmatched: unmatchedSide(sim, rowsA, rowsB, result.rowIndices, result.colIndices, options),
  };
}

/** The larger side's features without a partner, with their best similarity to the other side. */
function unmatchedSide(sim: SimilarityMatrix, rowsA: Int32Array, rowsB: Int32Array, matchedRows: Int32Array, matchedCols: Int32Array, options: AlignOptions): UnmatchedSide {
  const { matrix, nA, nB } = sim;
  const side = nA > nB ? "A" : nB > nA ? "B" : null;
  const taken = new Uint8Array(side === "A" ? nA : nB);
  for (const i of side === "A" ? matchedRows : matchedCols) taken[i] = 1;
  const local: number[] = [];
  if (side) for (let i = 0; i < taken.length; i++) if (!taken[i]) local.push(i);
  const bestValues = new Float64Array(local.length);
  local.forEach((i, t) => {
    let best = -Infinity;
    if (side === "A") for (let j = 0; j < nB; j++) best = Math.max(best, matrix[i * nB + j]!);
    else for (let r = 0; r < nA; r++) best = Math.max(best, matrix[r * nB + i]!);
    bestValues[t] = best === -Infinity ? NaN : best;
  });
  const ids = Int32Array.from(local, (i) => (side === "A" ? rowsA[i]! : rowsB[i]!));
  return { side, ids, bestValues, summary: summarise(bestValues, options.threshold) };
}

/** Best partner of every row and of every column (first index on ties). */
function bestPartners(sim: SimilarityMatrix): { forward: Float64Array; forwardIndex: Int32Array; reverse: Float64Array; reverseIndex: Int32Array } {
  const { matrix, nA, nB } = sim;
  const forward = new Float64Array(nA).fill(NaN);
  const forwardIndex = new Int32Array(nA).fill(-1);
  const reverse = new Float64Array(nB).fill(-Infinity);
  const reverseIndex = new Int32Array(nB).fill(-1);
  for (let i = 0; i < nA; i++) {
    let best = -Infinity;
    let bestJ = -1;
    const base = i * nB;
    for (let j = 0; j < nB; j++) {
      const x = matrix[base + j]!;
      if (x > best) {
        best = x;
        bestJ = j;
      }
      if (x > reverse[j]!) {
        reverse[j] = x;
        reverseIndex[j] = i;
      }
    }
    if (bestJ >= 0) {
      forward[i] = best;
      forwardIndex[i] = bestJ;
    }
  }
  // A column with no rows at all has no best partner.
  for (let j = 0; j < nB; j++) if (reverseIndex[j] === -1) reverse[j] = NaN;
  return { forward, forwardIndex, reverse, reverseIndex };
}

/** Match two dictionaries in one of the four modes. */
export function alignDictionaries(A: Dictionary, B: Dictionary, mode: MatchMode, options: AlignOptions = {}): PairMatch {
  if (A.d !== B.d) {
    throw new MatchShapeError(`cannot match decoders of shapes [${A.n}, ${A.d}] and [${B.n}, ${B.d}]: d_in differs; match only SAEs trained on the same hook`);
  }
  switch (mode) {
    case "full":
      return hungarian(cosineMatrix(A.decoder, A.n, B.decoder, B.n, A.d), allIndices(A.n), allIndices(B.n), mode, options);
    case "live-only": {
      const la = liveIndices(A, "A");
      const lb = liveIndices(B, "B");
      const sim = cosineMatrix(subsetRows(A.decoder, A.d, la), la.length, subsetRows(B.decoder, B.d, lb), lb.length, A.d);
      return hungarian(sim, la, lb, mode, options);
    }
    case "activation": {
      if (!A.activations || !B.activations) {
        throw new MatchShapeError("activation matching needs both SAEs' feature activations [T, n] on the same tokens; record them first");
      }
      const T = A.n > 0 ? A.activations.length / A.n : 0;
      const TB = B.n > 0 ? B.activations.length / B.n : 0;
      if (!Number.isInteger(T) || !Number.isInteger(TB) || T !== TB) {
        throw new MatchShapeError(`activation matching: A's activations (${A.activations.length} values for ${A.n} features) and B's (${B.activations.length} for ${B.n}) are not [T, n] on the same T tokens`);
      }
      const la = liveIndices(A, "A");
      const lb = liveIndices(B, "B");
      const sim = pearsonMatrix(subsetColumns(A.activations, T, A.n, la), la.length, subsetColumns(B.activations, T, B.n, lb), lb.length, T);
      return hungarian(sim, la, lb, mode, options);
    }
    case "max-cosine": {
      const sim = cosineMatrix(A.decoder, A.n, B.decoder, B.n, A.d);
      const { forward, forwardIndex, reverse, reverseIndex } = bestPartners(sim);
      const indexA = allIndices(A.n);
      return {
        mode, values: forward, indexA, indexB: forwardIndex, summary: summarise(forward, options.threshold),
        reverseValues: reverse, reverseIndexA: reverseIndex, reverseSummary: summarise(reverse, options.threshold), audit: null,
        best: topPairs(indexA, forwardIndex, forward, options.topN ?? 10), degenerateA: sim.degenerateA, degenerateB: sim.degenerateB,
        liveCounts: [A.n, B.n],
      };
    }
    default:
      throw new MatchShapeError(`unknown match mode "${String(mode)}"; use one of ${MATCH_MODES.join(", ")}`);
  }
}
