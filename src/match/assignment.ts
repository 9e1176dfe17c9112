/**
 * Exact linear assignment (the "Hungarian" problem) for dense rectangular matrices, by the shortest augmenting
 * path method of Jonker & Volgenant as formulated by Crouse (2016) — the algorithm behind scipy's
 * linear_sum_assignment. One row at a time is added to the matching by a Dijkstra-like search for the cheapest
 * augmenting path in reduced costs c(i,j) − u(i) − v(j); the dual potentials u, v are updated so reduced costs
 * stay non-negative. O(n²·m) worst case; float64 potentials; no greedy fallback anywhere.
 *
 * Tie-breaking is deterministic: columns are scanned in a fixed order, and among columns with equal path cost
 * an unassigned column (which ends the search) is preferred, then the one scanned first. The answer depends
 * only on the matrix.
 *
 * The result carries its own proof: the dual potentials, checked for feasibility (u(i) + v(j) ≤ c(i,j) for all
 * pairs, v ≤ 0) and complementary slackness (equality on matched pairs, v = 0 on unmatched columns), which
 * together certify optimality — the check is O(n·m), cheap beside the solve.
 */

export type Matrix = Float32Array | Float64Array;

export interface AssignmentOptions {
  /** "max" to maximise total profit (e.g. cosine similarity), "min" (default) to minimise cost. */
  sense?: "min" | "max";
  /** Treat −Infinity (max) / +Infinity (min) as forbidden pairs instead of rejecting them. */
  forbidden?: boolean;
  /** Tolerance of the optimality audit, relative to the largest finite |entry| (default 1e-9). */
  tolerance?: number;
}

export interface OptimalityAudit {
  /** Largest violation of dual feasibility, u(i)+v(j) − c(i,j) > 0, in cost units (≤ tolerance when optimal). */
  maxDualViolation: number;
  /** Largest |u(i)+v(j) − c(i,j)| over matched pairs (complementary slackness). */
  maxSlacknessViolation: number;
  /** |primal total − dual total|. */
  dualityGap: number;
  tolerance: number;
  optimal: boolean;
}

export interface Assignment {
  /** Matched rows, ascending. */
  rowIndices: Int32Array;
  /** colIndices[t] is matched to rowIndices[t]. */
  colIndices: Int32Array;
  /** Sum of the original entries over the matching (float64). */
  total: number;
  /** Dual potentials of the solved (minimisation, rows ≤ cols) problem, in that orientation. */
  u: Float64Array;
  v: Float64Array;
  transposed: boolean;
  audit: OptimalityAudit;
}

export class AssignmentError extends Error {
  override name = "AssignmentError";
}

/** Access to c(i, j) of the minimisation problem in the solver's orientation (rows ≤ cols). */
interface CostView {
  rows: number;
  cols: number;
  data: Matrix;
  stride: number;
  /** +1 for min, −1 for max (profit negated on the fly: no copy of a large Float32 matrix). */
  sign: number;
}

function scan(data: Matrix, rows: number, cols: number, sense: "min" | "max", forbidden: boolean): number {
  let maxAbs = 0;
  const bad = sense === "min" ? Infinity : -Infinity;
  for (let i = 0; i < rows * cols; i++) {
    const x = data[i]!;
    if (x !== x) throw new AssignmentError(`assignment: entry (${Math.floor(i / cols)}, ${i % cols}) is NaN; remove or replace NaNs before matching`);
    if (x === Infinity || x === -Infinity) {
      if (x === bad && forbidden) continue;
      throw new AssignmentError(
        x === bad
          ? `assignment: entry (${Math.floor(i / cols)}, ${i % cols}) is ${x}; pass forbidden: true to treat it as a forbidden pair`
          : `assignment: entry (${Math.floor(i / cols)}, ${i % cols}) is ${x}, which makes the ${sense === "min" ? "minimum" : "maximum"} unbounded`,
      );
    }
    const a = Math.abs(x);
    if (a > maxAbs) maxAbs = a;
  }
  return maxAbs;
}

export function linearSumAssignment(data: Matrix, rows: number, cols: number, options: AssignmentOptions = {}): Assignment {
  const sense = options.sense ?? "min";
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0) throw new AssignmentError(`assignment: bad shape ${rows}×${cols}`);
  if (data.length !== rows * cols) throw new AssignmentError(`assignment: matrix has ${data.length} entries, expected ${rows}×${cols} = ${rows * cols}`);
  const maxAbs = scan(data, rows, cols, sense, options.forbidden ?? false);
  const transposed = rows > cols;
  let view: CostView;
  if (transposed) {
    // The solver wants rows ≤ cols. Transposing copies (in the input's precision) once.
    const t = data instanceof Float32Array ? new Float32Array(data.length) : new Float64Array(data.length);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = data[i * cols + j]!;
    view = { rows: cols, cols: rows, data: t, stride: rows, sign: sense === "max" ? -1 : 1 };
  } else {
    view = { rows, cols, data, stride: cols, sign: sense === "max" ? -1 : 1 };
  }
  const { col4row, u, v } = solve(view);
  const tolerance = (options.tolerance ?? 1e-9) * Math.max(1, maxAbs) * Math.max(1, Math.sqrt(view.cols));
  const audit = auditOptimality(view, col4row, u, v, tolerance);
  // Report pairs in the caller's orientation, sorted by row.
  const n = view.rows;
  const rowIndices = new Int32Array(n);
  const colIndices = new Int32Array(n);
  if (!transposed) {
    for (let i = 0; i < n; i++) { rowIndices[i] = i; colIndices[i] = col4row[i]!; }
  } else {
    const pairs = Array.from({ length: n }, (_, j) => [col4row[j]!, j] as const).sort((a, b) => a[0] - b[0]);
    pairs.forEach(([r, c], t) => { rowIndices[t] = r; colIndices[t] = c; });
  }
  let total = 0;
  for (let t = 0; t < n; t++) total += data[rowIndices[t]! * cols + colIndices[t]!]!;
  return { rowIndices, colIndices, total, u, v, transposed, audit };
}

function solve(c: CostView): { col4row: Int32Array; u: Float64Array; v: Float64Array } {
  const { rows: nr, cols: nc, data, stride, sign } = c;
  const u = new Float64Array(nr);
  const v = new Float64Array(nc);
  const col4row = new Int32Array(nr).fill(-1);
  const row4col = new Int32Array(nc).fill(-1);
  const shortest = new Float64Array(nc);
  const path = new Int32Array(nc).fill(-1);
  const remaining = new Int32Array(nc);
  const visitedRows = new Uint8Array(nr);
  const visitedCols = new Uint8Array(nc);
  const rowList = new Int32Array(nr);
  const colList = new Int32Array(nc);

  for (let curRow = 0; curRow < nr; curRow++) {
    // Dijkstra over columns from curRow, in reduced costs.
    let minVal = 0;
    let i = curRow;
    let numRemaining = nc;
    for (let it = 0; it < nc; it++) remaining[it] = nc - it - 1;
    shortest.fill(Infinity);
    let nRowsSeen = 0;
    let nColsSeen = 0;
    let sink = -1;
    while (sink === -1) {
      visitedRows[i] = 1;
      rowList[nRowsSeen++] = i;
      let index = -1;
      let lowest = Infinity;
      const base = i * stride;
      const ui = u[i]!;
      for (let it = 0; it < numRemaining; it++) {
        const j = remaining[it]!;
        const r = minVal + sign * data[base + j]! - ui - v[j]!;
        if (r < shortest[j]!) {
          path[j] = i;
          shortest[j] = r;
        }
        const s = shortest[j]!;
        if (s < lowest || (s === lowest && row4col[j] === -1)) {
          lowest = s;
          index = it;
        }
      }
      minVal = lowest;
      if (minVal === Infinity) throw new AssignmentError("assignment: infeasible — forbidden entries leave some row with no possible partner");
      const j = remaining[index]!;
      if (row4col[j] === -1) sink = j;
      else i = row4col[j]!;
      visitedCols[j] = 1;
      colList[nColsSeen++] = j;
      remaining[index] = remaining[--numRemaining]!;
    }
    // Update the potentials of everything the search settled, then flip the path.
    u[curRow] += minVal;
    for (let t = 0; t < nRowsSeen; t++) {
      const r = rowList[t]!;
      visitedRows[r] = 0;
      if (r !== curRow) u[r] += minVal - shortest[col4row[r]!]!;
    }
    for (let t = 0; t < nColsSeen; t++) {
      const j = colList[t]!;
      visitedCols[j] = 0;
      v[j] -= minVal - shortest[j]!;
    }
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

function auditOptimality(c: CostView, col4row: Int32Array, u: Float64Array, v: Float64Array, tolerance: number): OptimalityAudit {
  const { rows, cols, data, stride, sign } = c;
  let maxDual = 0;
  let maxSlack = 0;
  let primal = 0;
  const matched = new Uint8Array(cols);
  for (let i = 0; i < rows; i++) {
    const base = i * stride;
    const ui = u[i]!;
    for (let j = 0; j < cols; j++) {
      const cost = sign * data[base + j]!;
      if (cost === Infinity) continue; // forbidden: no constraint
      const excess = ui + v[j]! - cost;
      if (excess > maxDual) maxDual = excess;
    }
    const j = col4row[i]!;
    matched[j] = 1;
    const cost = sign * data[base + j]!;
    primal += cost;
    maxSlack = Math.max(maxSlack, Math.abs(ui + v[j]! - cost));
  }
  let dual = 0;
  for (let i = 0; i < rows; i++) dual += u[i]!;
  for (let j = 0; j < cols; j++) {
    dual += v[j]!;
    if (v[j]! > maxDual) maxDual = v[j]!; // v ≤ 0 (unmatched columns may be left empty)
    if (!matched[j]) maxSlack = Math.max(maxSlack, Math.abs(v[j]!));
  }
  const dualityGap = Math.abs(primal - dual);
  return {
    maxDualViolation: maxDual, maxSlacknessViolation: maxSlack, dualityGap, tolerance,
    optimal: maxDual <= tolerance && maxSlack <= tolerance && dualityGap <= tolerance * Math.max(1, rows),
  };
}

/**
 * Check any proposed matching against potentials: the standalone form of the audit, for callers who want to
 * verify an assignment produced elsewhere (or deliberately tampered with, in tests). `colForRow` is in the
 * solver orientation of `result` (rows ≤ cols after transposition).
 */
export function verifyAssignment(data: Matrix, rows: number, cols: number, result: Assignment, options: AssignmentOptions = {}): OptimalityAudit {
  const sense = options.sense ?? "min";
  const maxAbs = scan(data, rows, cols, sense, options.forbidden ?? true);
  let view: CostView;
  const col4row = new Int32Array(Math.min(rows, cols));
  if (result.transposed) {
    const t = new Float64Array(data.length);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = data[i * cols + j]!;
    view = { rows: cols, cols: rows, data: t, stride: rows, sign: sense === "max" ? -1 : 1 };
    result.rowIndices.forEach((r, k) => (col4row[result.colIndices[k]!] = r));
  } else {
    view = { rows, cols, data, stride: cols, sign: sense === "max" ? -1 : 1 };
    result.rowIndices.forEach((r, k) => (col4row[r] = result.colIndices[k]!));
  }
  const tolerance = (options.tolerance ?? 1e-9) * Math.max(1, maxAbs) * Math.max(1, Math.sqrt(view.cols));
  return auditOptimality(view, col4row, result.u, result.v, tolerance);
}
