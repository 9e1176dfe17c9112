/**
 * Exact linear assignment (the "Hungarian" problem) for dense rectangular matrices, by the shortest augmenting
 * path method of Jonker & Volgenant in the formulation of Crouse (2016, "On implementing 2D rectangular
 * assignment algorithms") — the algorithm behind scipy.optimize.linear_sum_assignment.
 *
 * Problem. Given an r×c matrix, choose min(r, c) entries, no two in the same row or column, with the smallest
 * total cost (sense "min") or the largest total profit (sense "max", solved as the minimisation of −profit,
 * negated on the fly so a large Float32 matrix is never copied to float64).
 *
 * Method. The solver works with rows ≤ columns (a taller matrix is transposed once, in its own precision). Rows
 * join the matching one at a time. For each new row a Dijkstra-like search over columns finds the cheapest
 * augmenting path in reduced costs c(i,j) − u(i) − v(j); the dual potentials u, v (float64) are then updated so
 * every reduced cost stays ≥ 0 and every matched pair has reduced cost 0, and the path is flipped. O(r²·c)
 * worst case; no heuristic or greedy phase anywhere.
 *
 * Tie-breaking (deterministic; the answer depends only on the matrix and the sense). Stated in the solver's
 * orientation (rows ≤ columns, i.e. after transposing a tall matrix): rows join the matching in increasing index
 * order; within a search every visited row scans the columns in increasing index order; a column's predecessor
 * changes only on a strictly shorter path, so the first visited row to reach it at its final distance wins; and
 * among unsettled columns at the same (smallest) distance the next one settled is the lowest-indexed unassigned
 * column if there is one (it ends the search), otherwise the lowest-indexed column.
 *
 * Certificate. The result carries its own proof of optimality, checked in O(r·c) after the solve (and available
 * standalone as `verifyAssignment`): with potentials u (rows) and v (columns) of the minimisation form
 * c'(i,j) = c(i,j) (min) or −c(i,j) (max), the matching is optimal when
 *   (1) dual feasibility: every reduced cost c'(i,j) − u(i) − v(j) ≥ −tol (forbidden pairs excepted), and on the
 *       strictly larger side — whose elements may stay unmatched — every potential ≤ +tol;
 *   (2) complementary slackness: |reduced cost| ≤ tol on every matched pair, and |potential| ≤ tol for every
 *       unmatched element of the larger side.
 * Then primal total = Σu + Σv (the LP duality gap is reported too), so no other matching can do better.
 */

export type Matrix = Float32Array | Float64Array;
export type Sense = "min" | "max";

export interface AssignmentOptions {
  /** "max" to maximise total profit (e.g. cosine similarity), "min" (default) to minimise total cost. */
  sense?: Sense;
  /**
   * Treat −Infinity (sense "max") / +Infinity (sense "min") entries as forbidden pairs instead of rejecting them.
   * The solver then fails with an infeasibility error if no complete assignment avoids them.
   */
  forbidden?: boolean;
  /** Relative tolerance of the optimality audit (default 1e-9); see `auditTolerance`. */
  tolerance?: number;
}

export interface OptimalityAudit {
  /** Smallest reduced cost c'(i,j) − u(i) − v(j) over allowed pairs (≥ −tolerance when dual feasible). */
  minReducedCost: number;
  /** Largest violation of dual feasibility: max(0, −minReducedCost, positive potential on the larger side). */
  maxDualViolation: number;
  /** Largest complementary-slackness violation: |reduced cost| on matched pairs, |potential| on unmatched. */
  maxSlacknessViolation: number;
  /** |primal total − (Σu + Σv)| in cost units of the minimisation form. */
  dualityGap: number;
  /** Absolute tolerance the checks were made with. */
  tolerance: number;
  /** Why the proposal is not even a valid matching (duplicate column, wrong size, forbidden pair…), or null. */
  invalidMatching: string | null;
  optimal: boolean;
}

export interface Assignment {
  /** Matched rows in ascending order; length min(rows, cols). */
  rowIndices: Int32Array;
  /** colIndices[t] is the column matched to rowIndices[t]. */
  colIndices: Int32Array;
  /** Sum of the original entries over the matching, in float64. */
  total: number;
  /** Row potentials [rows] of the minimisation form c' (c for "min", −c for "max"), in the caller's orientation. */
  u: Float64Array;
  /** Column potentials [cols], likewise. */
  v: Float64Array;
  /** The certificate described in the module comment, already checked. */
  optimality: OptimalityAudit;
}

/** What `verifyAssignment` needs: a proposed matching and the potentials that should certify it. */
export interface AssignmentProposal {
  rowIndices: ArrayLike<number>;
  colIndices: ArrayLike<number>;
  u: ArrayLike<number>;
  v: ArrayLike<number>;
}

/** A cost matrix the assignment solver refuses (wrong size, NaN, infinite). */
export class AssignmentError extends Error {
  override name = "AssignmentError";
}

/** Beyond this magnitude the float64 potentials (sums of up to ~2n entries) could overflow to Infinity. */
const MAX_ABS_ENTRY = 1e150;

function checkShape(data: Matrix, rows: number, cols: number): void {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) {
    throw new AssignmentError(`assignment: shape ${rows}×${cols} is not a pair of non-negative integers`);
  }
  if (data.length !== rows * cols) {
    throw new AssignmentError(`assignment: matrix has ${data.length} entries, expected ${rows}×${cols} = ${rows * cols}; pass the row-major data with its true shape`);
  }
}

/**
 * One pass over the matrix: rejects NaN and the infinities that cannot be meaningful, and returns the largest
 * finite |entry| (the scale of the audit tolerance). +Infinity when maximising (or −Infinity when minimising)
 * would make the optimum unbounded; the opposite infinity can only mean "this pair is not allowed", which is
 * accepted when the caller says so with `forbidden: true`.
 */
function scanEntries(data: Matrix, cols: number, sense: Sense, forbidden: boolean): number {
  const disallowed = sense === "min" ? Infinity : -Infinity;
  let maxAbs = 0;
  const where = (k: number) => `entry (${Math.floor(k / cols)}, ${k % cols})`;
  for (let k = 0; k < data.length; k++) {
    const x = data[k]!;
    const a = x < 0 ? -x : x;
    if (a <= maxAbs) continue; // fast path: finite and not a new maximum (false for NaN)
    if (x !== x) throw new AssignmentError(`assignment: ${where(k)} is NaN; replace NaNs (e.g. by a cost that expresses "no match") before solving`);
    if (a === Infinity) {
      if (x !== disallowed) {
        throw new AssignmentError(`assignment: ${where(k)} is ${x}, which makes the ${sense === "min" ? "minimum" : "maximum"} unbounded; use finite values`);
      }
      if (forbidden) continue;
      throw new AssignmentError(`assignment: ${where(k)} is ${x}; pass { forbidden: true } to treat such entries as forbidden pairs, or use finite values`);
    }
    if (a > MAX_ABS_ENTRY) throw new AssignmentError(`assignment: ${where(k)} = ${x} is too large for float64 potentials; rescale the matrix (|entries| ≤ ${MAX_ABS_ENTRY})`);
    maxAbs = a;
  }
  return maxAbs;
}

/**
 * Absolute tolerance of the audit: relative × (largest |entry|) × √(larger dimension). The potentials are sums
 * of O(n) rounded float64 terms; for cosine matrices the observed violations are ~1e-14, far below this.
 */
export function auditTolerance(maxAbs: number, rows: number, cols: number, relative = 1e-9): number {
  if (!(relative >= 0)) throw new AssignmentError(`assignment: tolerance must be ≥ 0, got ${relative}`);
  return relative * (maxAbs > 0 ? maxAbs : 1) * Math.max(1, Math.sqrt(Math.max(rows, cols)));
}

/** Solve min/max Σ entries over a matching of size min(rows, cols). Throws AssignmentError on bad input. */
export function linearSumAssignment(data: Matrix, rows: number, cols: number, options: AssignmentOptions = {}): Assignment {
  const sense = options.sense ?? "min";
  if (sense !== "min" && sense !== "max") throw new AssignmentError(`assignment: sense must be "min" or "max", got "${String(sense)}"`);
  checkShape(data, rows, cols);
  const forbidden = options.forbidden ?? false;
  const maxAbs = scanEntries(data, cols, sense, forbidden);
  const sign = sense === "max" ? -1 : 1;

  // The search needs rows ≤ cols; a tall matrix is transposed once, keeping its precision.
  const transposed = rows > cols;
  const solverData = transposed ? transpose(data, rows, cols) : data;
  const nr = transposed ? cols : rows;
  const nc = transposed ? rows : cols;
  const { col4row, u: uSolver, v: vSolver } = shortestAugmentingPaths(solverData, nr, nc, sign);

  // Back to the caller's orientation: a matching sorted by row, and potentials per caller row / column.
  const colForRow = new Int32Array(rows).fill(-1);
  if (transposed) for (let j = 0; j < nr; j++) colForRow[col4row[j]!] = j;
  else colForRow.set(col4row);
  const pairs = Math.min(rows, cols);
  const rowIndices = new Int32Array(pairs);
  const colIndices = new Int32Array(pairs);
  let t = 0;
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const j = colForRow[i]!;
    if (j < 0) continue;
    rowIndices[t] = i;
    colIndices[t] = j;
    total += data[i * cols + j]!;
    t++;
  }
  const u = transposed ? vSolver : uSolver;
  const v = transposed ? uSolver : vSolver;
  const tolerance = auditTolerance(maxAbs, rows, cols, options.tolerance);
  const optimality = audit(data, rows, cols, sign, colForRow, u, v, tolerance);
  return { rowIndices, colIndices, total, u, v, optimality };
}

function transpose(data: Matrix, rows: number, cols: number): Matrix {
  const out = data instanceof Float32Array ? new Float32Array(data.length) : new Float64Array(data.length);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let j = 0; j < cols; j++) out[j * rows + i] = data[base + j]!;
  }
  return out;
}

interface Solution {
  col4row: Int32Array;
  u: Float64Array;
  v: Float64Array;
}

/**
 * The core: nr ≤ nc, cost c'(i,j) = sign·data[i·nc + j]. All scratch is allocated once.
 *
 * Layout of the search, chosen for speed of the inner loop (one pass over a matrix row per visited row): it runs
 * over all columns j = 0..nc−1 in order, on contiguous arrays, with no index list. A column that has been
 * settled in the current search is taken out of play by setting vScan[j] = −∞ (so its candidate distance is +∞
 * and never improves it) and shortest[j] = +∞ (so it never wins the minimum); its final distance and
 * predecessor are kept aside. vScan equals v outside a search.
 */
function shortestAugmentingPaths(data: Matrix, nr: number, nc: number, sign: number): Solution {
  const u = new Float64Array(nr);
  const v = new Float64Array(nc);
  const vScan = new Float64Array(nc);
  const col4row = new Int32Array(nr).fill(-1);
  const row4col = new Int32Array(nc).fill(-1);
  const shortest = new Float64Array(nc);
  const path = new Int32Array(nc);
  // Scan k of a search visits rowsSeen[k] and settles column colsSettled[k] at distance settledDistance[k].
  const rowsSeen = new Int32Array(nr);
  const colsSettled = new Int32Array(nc);
  const settledDistance = new Float64Array(nc);

  for (let curRow = 0; curRow < nr; curRow++) {
    shortest.fill(Infinity);
    let scans = 0;
    let minVal = 0;
    let i = curRow;
    let sink = -1;
    while (sink === -1) {
      const base = i * nc;
      // r = minVal + c'(i,j) − u(i) − v(j), with the row constant hoisted out of the loop.
      const h = minVal - u[i]!;
      rowsSeen[scans] = i;
      let index = -1;
      let lowest = Infinity;
      let lowestIsFree = false;
      for (let j = 0; j < nc; j++) {
        const r = h + sign * data[base + j]! - vScan[j]!;
        let s = shortest[j]!;
        if (r < s) {
          path[j] = i;
          shortest[j] = r;
          s = r;
        }
        if (s <= lowest) {
          if (s < lowest) {
            lowest = s;
            index = j;
            lowestIsFree = row4col[j] === -1;
          } else if (!lowestIsFree && row4col[j] === -1) {
            index = j;
            lowestIsFree = true;
          }
        }
      }
      if (lowest === Infinity) {
        throw new AssignmentError(
          `assignment: infeasible — with the forbidden entries, row ${curRow} of the ${nr}×${nc} problem (after transposing a tall matrix) cannot be added to a complete matching; allow more pairs or remove rows that have no allowed partner`,
        );
      }
      minVal = lowest;
      const j = index;
      colsSettled[scans] = j;
      settledDistance[scans] = lowest;
      scans++;
      vScan[j] = -Infinity;
      shortest[j] = Infinity;
      if (row4col[j] === -1) sink = j;
      else i = row4col[j]!;
    }

    // Potentials of everything the search settled (keeps reduced costs ≥ 0 and 0 on the new path). Row k ≥ 1 of
    // the search was reached through column colsSettled[k − 1], its match before the flip below.
    u[curRow] += minVal;
    for (let k = 1; k < scans; k++) u[rowsSeen[k]!] += minVal - settledDistance[k - 1]!;
    for (let k = 0; k < scans; k++) {
      const c = colsSettled[k]!;
      v[c] -= minVal - settledDistance[k]!;
      vScan[c] = v[c]!;
    }
    // Flip the augmenting path back from the sink to curRow.
    let j = sink;
    for (;;) {
      const r = path[j]!;
      row4col[j] = r;
      const previous = col4row[r]!;
      col4row[r] = j;
      j = previous;
      if (r === curRow) break;
    }
  }
  return { col4row, u, v };
}

/**
 * The certificate check of the module comment, in the caller's orientation and without copying the matrix.
 * colForRow[i] = matched column of row i or −1. Forbidden pairs (c' = +Infinity) carry no dual constraint.
 */
function audit(data: Matrix, rows: number, cols: number, sign: number, colForRow: Int32Array, u: ArrayLike<number>, v: ArrayLike<number>, tolerance: number): OptimalityAudit {
  let minReduced = Infinity;
  let maxSlack = 0;
  let primal = 0;
  let invalid: string | null = null;
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    const ui = u[i]!;
    for (let j = 0; j < cols; j++) {
      const c = sign * data[base + j]!;
      if (c === Infinity) continue;
      const reduced = c - ui - v[j]!;
      if (reduced < minReduced) minReduced = reduced;
    }
    const j = colForRow[i]!;
    if (j < 0) continue;
    const c = sign * data[base + j]!;
    if (c === Infinity) invalid ??= `row ${i} is matched to column ${j}, a forbidden pair`;
    primal += c;
    const slack = Math.abs(c - ui - v[j]!);
    if (!(slack <= maxSlack)) maxSlack = slack; // NaN-safe: a NaN potential counts as a violation
  }
  // Elements of the strictly larger side may stay unmatched: their potential must be ≤ 0, and 0 if unmatched.
  let signViolation = 0;
  const matchedCol = new Uint8Array(cols);
  for (let i = 0; i < rows; i++) if (colForRow[i]! >= 0) matchedCol[colForRow[i]!] = 1;
  const checkSide = (potentials: ArrayLike<number>, n: number, isMatched: (k: number) => boolean) => {
    for (let k = 0; k < n; k++) {
      const p = potentials[k]!;
      if (p > signViolation) signViolation = p;
      if (!isMatched(k) && !(Math.abs(p) <= maxSlack)) maxSlack = Math.abs(p);
    }
  };
  if (cols > rows) checkSide(v, cols, (j) => matchedCol[j] === 1);
  if (rows > cols) checkSide(u, rows, (i) => colForRow[i]! >= 0);

  let dual = 0;
  for (let i = 0; i < rows; i++) dual += u[i]!;
  for (let j = 0; j < cols; j++) dual += v[j]!;
  const dualityGap = Math.abs(primal - dual);
  const minReducedCost = rows === 0 || cols === 0 ? 0 : minReduced;
  const maxDualViolation = Math.max(0, -minReducedCost, signViolation);
  const optimal = invalid === null && maxDualViolation <= tolerance && maxSlack <= tolerance
    && dualityGap <= tolerance * Math.max(1, Math.min(rows, cols));
  return { minReducedCost, maxDualViolation, maxSlacknessViolation: maxSlack, dualityGap, tolerance, invalidMatching: invalid, optimal };
}

/** Validate a proposed matching's shape; returns colForRow or a reason it is not a matching. */
function proposalToColForRow(p: AssignmentProposal, rows: number, cols: number): Int32Array | string {
  const want = Math.min(rows, cols);
  if (p.rowIndices.length !== p.colIndices.length) return `${p.rowIndices.length} row indices but ${p.colIndices.length} column indices`;
  if (p.rowIndices.length !== want) return `${p.rowIndices.length} pairs, but a complete matching of a ${rows}×${cols} matrix has ${want}`;
  const colForRow = new Int32Array(rows).fill(-1);
  const colUsed = new Uint8Array(cols);
  for (let t = 0; t < want; t++) {
    const i = p.rowIndices[t]!, j = p.colIndices[t]!;
    if (!Number.isInteger(i) || i < 0 || i >= rows) return `pair ${t} has row ${i}, outside 0..${rows - 1}`;
    if (!Number.isInteger(j) || j < 0 || j >= cols) return `pair ${t} has column ${j}, outside 0..${cols - 1}`;
    if (colForRow[i] !== -1) return `row ${i} is matched twice`;
    if (colUsed[j]) return `column ${j} is matched twice`;
    colForRow[i] = j;
    colUsed[j] = 1;
  }
  return colForRow;
}

/**
 * Check a matching and its potentials against the matrix: the standalone form of the certificate, for a
 * matching produced elsewhere (or deliberately tampered with). `u` has one potential per row and `v` one per
 * column, both of the minimisation form (c for "min", −c for "max"). An invalid matching is reported through
 * `invalidMatching` and `optimal: false` rather than thrown, so callers can log it; a malformed matrix throws.
 */
export function verifyAssignment(data: Matrix, rows: number, cols: number, proposal: AssignmentProposal, options: AssignmentOptions = {}): OptimalityAudit {
  const sense = options.sense ?? "min";
  checkShape(data, rows, cols);
  if (proposal.u.length !== rows || proposal.v.length !== cols) {
    throw new AssignmentError(`verifyAssignment: potentials have lengths ${proposal.u.length} and ${proposal.v.length}, expected ${rows} (rows) and ${cols} (columns)`);
  }
  const maxAbs = scanEntries(data, cols, sense, options.forbidden ?? false);
  const tolerance = auditTolerance(maxAbs, rows, cols, options.tolerance);
  const colForRow = proposalToColForRow(proposal, rows, cols);
  if (typeof colForRow === "string") {
    return { minReducedCost: NaN, maxDualViolation: NaN, maxSlacknessViolation: NaN, dualityGap: NaN, tolerance, invalidMatching: colForRow, optimal: false };
  }
  return audit(data, rows, cols, sense === "max" ? -1 : 1, colForRow, proposal.u, proposal.v, tolerance);
}
