/**
 * Similarity matrices between two dictionaries: cosines of L2-normalised decoder directions, and Pearson
 * correlations of feature activations on the same tokens. Degenerate rows/columns (zero-norm directions,
 * constant activations) are reported and given similarity 0 — never silently turned into NaN.
 */
import { matmul } from "../tensor/matmul.ts";

export class MatchShapeError extends Error {
  override name = "MatchShapeError";
}

export interface SimilarityMatrix {
  /** [nA, nB], row-major. */
  matrix: Float32Array;
  nA: number;
  nB: number;
  /** Indices of A rows (features) that had zero norm / zero variance. */
  degenerateA: number[];
  degenerateB: number[];
}

/** Rows scaled to unit L2 norm; zero rows stay zero and are listed. */
export function normaliseRowsCopy(m: Float32Array, rows: number, d: number): { data: Float32Array; zeroRows: number[] } {
  const data = new Float32Array(rows * d);
  const zeroRows: number[] = [];
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += m[r * d + j]! * m[r * d + j]!;
    if (!(s > 0)) {
      zeroRows.push(r);
      continue;
    }
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) data[r * d + j] = m[r * d + j]! * inv;
  }
  return { data, zeroRows };
}

/** Cosine similarity between every row of A [nA, d] and every row of B [nB, d]. */
export function cosineMatrix(a: Float32Array, nA: number, b: Float32Array, nB: number, d: number): SimilarityMatrix {
  if (a.length !== nA * d || b.length !== nB * d) {
    throw new MatchShapeError(`cosine: decoder shapes [${nA}, ${a.length / Math.max(nA, 1)}] and [${nB}, ${b.length / Math.max(nB, 1)}] do not share d_in = ${d}`);
  }
  const na = normaliseRowsCopy(a, nA, d);
  const nb = normaliseRowsCopy(b, nB, d);
  const matrix = new Float32Array(nA * nB);
  matmul({ a: na.data, b: nb.data, c: matrix, m: nA, n: nB, k: d, transB: true });
  // Rounding can push |cos| a hair past 1; clamp so thresholds like ≥ 0.9 and plots behave.
  for (let i = 0; i < matrix.length; i++) matrix[i] = Math.max(-1, Math.min(1, matrix[i]!));
  return { matrix, nA, nB, degenerateA: na.zeroRows, degenerateB: nb.zeroRows };
}

/** Columns centred and scaled to unit norm over the T tokens, transposed to [n, T] rows. */
function standardisedColumns(x: Float32Array, T: number, n: number): { rows: Float32Array; constant: number[] } {
  const rows = new Float32Array(n * T);
  const constant: number[] = [];
  for (let j = 0; j < n; j++) {
    let mean = 0;
    for (let t = 0; t < T; t++) mean += x[t * n + j]!;
    mean /= T;
    let ss = 0;
    for (let t = 0; t < T; t++) ss += (x[t * n + j]! - mean) ** 2;
    if (!(ss > 0)) {
      constant.push(j);
      continue;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let t = 0; t < T; t++) rows[j * T + t] = (x[t * n + j]! - mean) * inv;
  }
  return { rows, constant };
}

/** Pearson correlation between feature activations actA [T, nA] and actB [T, nB] on the same T tokens. */
export function pearsonMatrix(actA: Float32Array, nA: number, actB: Float32Array, nB: number, T: number): SimilarityMatrix {
  if (actA.length !== T * nA || actB.length !== T * nB) throw new MatchShapeError(`pearson: activations must be [${T}, nA] and [${T}, nB] on the same tokens`);
  const a = standardisedColumns(actA, T, nA);
  const b = standardisedColumns(actB, T, nB);
  const matrix = new Float32Array(nA * nB);
  matmul({ a: a.rows, b: b.rows, c: matrix, m: nA, n: nB, k: T, transB: true });
  for (let i = 0; i < matrix.length; i++) matrix[i] = Math.max(-1, Math.min(1, matrix[i]!));
  return { matrix, nA, nB, degenerateA: a.constant, degenerateB: b.constant };
}
