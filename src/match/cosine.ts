/**
 * Similarity matrices between two dictionaries:
 *   cosineMatrix  cosines between the L2-normalised rows of two decoders A [nA, d] and B [nB, d];
 *   pearsonMatrix Pearson correlations between the columns of two activation matrices [T, nA] and [T, nB]
 *                 recorded on the same T tokens.
 *
 * Both reduce to one product of unit vectors, M = Â·B̂ᵀ, done by the project's matmul (float32 storage and
 * accumulation). Normalisation and centring are done in float64 before rounding the unit vectors to float32,
 * so the entries are accurate to ~1e-6 — far finer than any threshold the study uses (0.5, 0.7, 0.9). Rounding
 * can push |M| a hair past 1; entries are clamped to [−1, 1] so thresholds and histograms behave.
 *
 * Degenerate features — a decoder row of norm zero, or an activation column that is constant over the tokens
 * (e.g. a dead feature) — have no direction, so their similarity is undefined. They get similarity exactly 0
 * (never NaN, which would poison the assignment) and are listed in the result so a report can say so.
 * Non-finite inputs (NaN, ±Infinity) are rejected: they mean a broken checkpoint, not a degenerate feature.
 */
import { matmul } from "../tensor/matmul.ts";

/** Two dictionaries that cannot be compared (different widths or sizes). */
export class MatchShapeError extends Error {
  override name = "MatchShapeError";
}

export interface SimilarityMatrix {
  /** [nA, nB], row-major, entries in [−1, 1]. */
  matrix: Float32Array;
  nA: number;
  nB: number;
  /** Features of A (rows of the matrix) with zero norm / constant activations; their row is all 0. */
  degenerateA: number[];
  /** Features of B (columns of the matrix) likewise; their column is all 0. */
  degenerateB: number[];
}

function checkFinite(x: Float32Array, what: string, cols: number): void {
  for (let k = 0; k < x.length; k++) {
    if (!Number.isFinite(x[k]!)) {
      throw new MatchShapeError(`${what}: entry (${Math.floor(k / cols)}, ${k % cols}) is ${x[k]}; the input is corrupt — reload or retrain it`);
    }
  }
}

function describeShape(data: Float32Array, rows: number): string {
  return rows > 0 && data.length % rows === 0 ? `[${rows}, ${data.length / rows}]` : `${data.length} values for ${rows} rows`;
}

/** Rows scaled to unit L2 norm (norm computed in float64); zero rows stay zero and are listed. */
export function normaliseRows(m: Float32Array, rows: number, d: number): { data: Float32Array; zeroRows: number[] } {
  const data = new Float32Array(rows * d);
  const zeroRows: number[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * d;
    let sumSquares = 0;
    for (let j = 0; j < d; j++) sumSquares += m[base + j]! * m[base + j]!;
    if (sumSquares === 0) {
      zeroRows.push(r);
      continue;
    }
    const inverse = 1 / Math.sqrt(sumSquares);
    for (let j = 0; j < d; j++) data[base + j] = m[base + j]! * inverse;
  }
  return { data, zeroRows };
}

/** Cosine similarity between every row of A [nA, d] and every row of B [nB, d] (row-major float32). */
export function cosineMatrix(a: Float32Array, nA: number, b: Float32Array, nB: number, d: number): SimilarityMatrix {
  for (const [name, x] of [["nA", nA], ["nB", nB], ["d", d]] as const) {
    if (!Number.isSafeInteger(x) || x < 0) throw new MatchShapeError(`cosine: ${name} must be a non-negative integer, got ${x}`);
  }
  if (a.length !== nA * d || b.length !== nB * d) {
    throw new MatchShapeError(
      `cosine: decoder A is ${describeShape(a, nA)} and decoder B is ${describeShape(b, nB)}, but both must be [n, ${d}]; match only SAEs trained on the same hook (same d_in)`,
    );
  }
  checkFinite(a, "cosine: decoder A", d);
  checkFinite(b, "cosine: decoder B", d);
  const unitA = normaliseRows(a, nA, d);
  const unitB = normaliseRows(b, nB, d);
  const matrix = new Float32Array(nA * nB);
  if (nA > 0 && nB > 0 && d > 0) matmul({ a: unitA.data, b: unitB.data, c: matrix, m: nA, n: nB, k: d, transB: true });
  clampUnit(matrix);
  return { matrix, nA, nB, degenerateA: unitA.zeroRows, degenerateB: unitB.zeroRows };
}

function clampUnit(m: Float32Array): void {
  for (let k = 0; k < m.length; k++) {
    const x = m[k]!;
    if (x > 1) m[k] = 1;
    else if (x < -1) m[k] = -1;
  }
}

/**
 * Columns of x [T, n] centred and scaled to unit norm over the T tokens (float64 arithmetic), stored transposed
 * as rows of an [n, T] matrix so that one product gives all correlations. Constant columns stay zero and are listed.
 */
export function standardiseColumns(x: Float32Array, T: number, n: number): { rows: Float32Array; constant: number[] } {
  const mean = new Float64Array(n);
  for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) mean[j] += x[t * n + j]!;
  for (let j = 0; j < n; j++) mean[j] /= T;
  const sumSquares = new Float64Array(n);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < n; j++) {
      const centred = x[t * n + j]! - mean[j]!;
      sumSquares[j] += centred * centred;
    }
  }
  const rows = new Float32Array(n * T);
  const constant: number[] = [];
  for (let j = 0; j < n; j++) {
    if (sumSquares[j] === 0) {
      constant.push(j);
      continue;
    }
    const inverse = 1 / Math.sqrt(sumSquares[j]!);
    const m = mean[j]!;
    for (let t = 0; t < T; t++) rows[j * T + t] = (x[t * n + j]! - m) * inverse;
  }
  return { rows, constant };
}

/** Pearson correlation between feature activations actA [T, nA] and actB [T, nB] recorded on the same T tokens. */
export function pearsonMatrix(actA: Float32Array, nA: number, actB: Float32Array, nB: number, T: number): SimilarityMatrix {
  for (const [name, x] of [["nA", nA], ["nB", nB], ["T", T]] as const) {
    if (!Number.isSafeInteger(x) || x < 0) throw new MatchShapeError(`pearson: ${name} must be a non-negative integer, got ${x}`);
  }
  if (actA.length !== T * nA || actB.length !== T * nB) {
    throw new MatchShapeError(
      `pearson: activations A have ${actA.length} values and B ${actB.length}, but they must be [${T}, ${nA}] and [${T}, ${nB}] — both SAEs run on the same ${T} tokens`,
    );
  }
  if (T < 2) throw new MatchShapeError(`pearson: correlations need at least 2 tokens, got ${T}; record activations on more tokens`);
  checkFinite(actA, "pearson: activations A", nA);
  checkFinite(actB, "pearson: activations B", nB);
  const a = standardiseColumns(actA, T, nA);
  const b = standardiseColumns(actB, T, nB);
  const matrix = new Float32Array(nA * nB);
  if (nA > 0 && nB > 0) matmul({ a: a.rows, b: b.rows, c: matrix, m: nA, n: nB, k: T, transB: true });
  clampUnit(matrix);
  return { matrix, nA, nB, degenerateA: a.constant, degenerateB: b.constant };
}
