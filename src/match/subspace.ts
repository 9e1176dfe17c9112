/**
 * Whether the latents two seeds do *not* share still span the same part of activation space ("unstable features,
 * reproducible subspaces", Gerasimov et al., arXiv 2606.12138): individually unmatched latents may be different
 * bases of one shared subspace.
 *
 * For a set of decoder directions U (rows, each normalised), its principal subspace of rank r is spanned by the top r
 * eigenvectors of the d × d Gram matrix UᵀU (the right singular vectors of U). Two such subspaces P, Q (orthonormal
 * bases, d × r) are compared by their principal angles θ_1..θ_r, whose cosines are the singular values of PᵀQ; we
 * report the mean squared cosine
 *
 *   overlap = (1/r)·Σ cos²θ_i = ‖PᵀQ‖²_F / r      (1: the same subspace; 0: orthogonal; r/d: two random subspaces)
 *
 * The rank: the smallest r whose eigenvalues hold `energy` (90%) of each set's total, the smaller of the two sets'
 * ranks, capped at ⌊d/2⌋ — an overcomplete set of directions spans all of R^d, and two full spaces overlap
 * trivially, so the comparison is made between the sets' dominant subspaces, never the whole space.
 */
import { symmetricEigen } from "../tensor/symmetric_eigen.ts";
import { matmul } from "../tensor/matmul.ts";

export interface SubspaceBasis {
  /** d × r orthonormal basis, row-major (column c is basis vector c). */
  basis: Float64Array;
  /** Eigenvalues of the Gram matrix, largest first (their sum is the number of rows). */
  spectrum: Float64Array;
  d: number;
  /** Rows the set had. */
  count: number;
}

/**
 * The Gram matrix UᵀU of the normalised rows `rows` (indices) of a [n, d] matrix — through the matmul kernel, in
 * float32 (a d × d product over up to n rows; ample for principal subspaces) — and its eigen decomposition in float64.
 */
export function principalBasis(directions: Float32Array, d: number, rows: ArrayLike<number>): SubspaceBasis {
  const u = new Float32Array(rows.length * d);
  for (let t = 0; t < rows.length; t++) {
    const o = rows[t]! * d;
    let norm = 0;
    for (let c = 0; c < d; c++) norm += directions[o + c]! * directions[o + c]!;
    norm = Math.sqrt(norm);
    if (norm === 0) continue;
    for (let c = 0; c < d; c++) u[t * d + c] = directions[o + c]! / norm;
  }
  const gram = new Float32Array(d * d);
  matmul({ a: u, b: u, c: gram, m: d, n: d, k: rows.length, transA: true });
  // Exactly symmetric (the kernel's sums for (i, j) and (j, i) may differ in the last bit).
  const sym = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) sym[i * d + j] = 0.5 * (gram[i * d + j]! + gram[j * d + i]!);
  const eig = symmetricEigen(sym, d);
  return { basis: eig.vectors, spectrum: eig.values, d, count: rows.length };
}

/** The smallest rank whose eigenvalues hold `energy` of the spectrum's total. */
export function energyRank(spectrum: Float64Array, energy: number): number {
  let total = 0;
  for (const v of spectrum) total += Math.max(0, v);
  if (total === 0) return 0;
  let acc = 0;
  for (let r = 0; r < spectrum.length; r++) {
    acc += Math.max(0, spectrum[r]!);
    if (acc >= energy * total) return r + 1;
  }
  return spectrum.length;
}

export interface SubspaceOverlap {
  rank: number;
  /** Mean squared cosine of the principal angles (see the header). */
  overlap: number;
  /** The principal angles in degrees, smallest first. */
  anglesDegrees: number[];
  /** What two random r-dimensional subspaces of R^d give on average. */
  randomExpectation: number;
}

/** Compare the rank-r principal subspaces of two sets (r by the energy rule unless given). */
export function subspaceOverlap(a: SubspaceBasis, b: SubspaceBasis, energy = 0.9, rank?: number): SubspaceOverlap {
  if (a.d !== b.d) throw new RangeError(`subspaceOverlap: the sets live in R^${a.d} and R^${b.d}`);
  const d = a.d;
  const r = rank ?? Math.min(energyRank(a.spectrum, energy), energyRank(b.spectrum, energy), Math.floor(d / 2), a.count, b.count);
  if (r === 0) return { rank: 0, overlap: NaN, anglesDegrees: [], randomExpectation: NaN };
  // M = PᵀQ (r × r); its singular values are the cosines of the principal angles: the square roots of eig(MᵀM).
  const m = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += a.basis[c * d + i]! * b.basis[c * d + j]!;
      m[i * r + j] = s;
    }
  }
  const mtm = new Float64Array(r * r);
  let frobenius = 0;
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += m[k * r + i]! * m[k * r + j]!;
      mtm[i * r + j] = s;
    }
    frobenius += mtm[i * r + i]!;
  }
  const cosines = Array.from(symmetricEigen(mtm, r).values, (v) => Math.sqrt(Math.min(1, Math.max(0, v))));
  return {
    rank: r, overlap: frobenius / r,
    anglesDegrees: cosines.map((c) => (Math.acos(c) * 180) / Math.PI).sort((x, y) => x - y),
    randomExpectation: r / d,
  };
}
