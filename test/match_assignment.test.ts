import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { linearSumAssignment, verifyAssignment, AssignmentError } from "../src/match/assignment.ts";

/** Best total by trying every injective map from the smaller side to the larger. */
function bruteForce(m: Float64Array, rows: number, cols: number, sense: "min" | "max"): number {
  const small = Math.min(rows, cols), large = Math.max(rows, cols);
  const at = (a: number, b: number) => (rows <= cols ? m[a * cols + b]! : m[b * cols + a]!);
  let best = sense === "min" ? Infinity : -Infinity;
  const used = new Uint8Array(large);
  const go = (a: number, acc: number) => {
    if (a === small) {
      best = sense === "min" ? Math.min(best, acc) : Math.max(best, acc);
      return;
    }
    for (let b = 0; b < large; b++) {
      if (used[b]) continue;
      used[b] = 1;
      go(a + 1, acc + at(a, b));
      used[b] = 0;
    }
  };
  go(0, 0);
  return best;
}

const matrixArb = fc.integer({ min: 1, max: 7 }).chain((rows) => fc.integer({ min: 1, max: 7 }).chain((cols) =>
  fc.tuple(fc.constant(rows), fc.constant(cols), fc.array(fc.integer({ min: -5, max: 5 }), { minLength: rows * cols, maxLength: rows * cols }), fc.constantFrom("min" as const, "max" as const))));

describe("linear sum assignment", () => {
  it("finds the brute-force optimum on every small matrix (square and rectangular, min and max, many ties)", () => {
    fc.assert(fc.property(matrixArb, ([rows, cols, values, sense]) => {
      const m = Float64Array.from(values);
      const r = linearSumAssignment(m, rows, cols, { sense });
      expect(r.rowIndices.length).toBe(Math.min(rows, cols));
      expect(new Set(r.colIndices).size).toBe(r.colIndices.length);
      expect(new Set(r.rowIndices).size).toBe(r.rowIndices.length);
      expect(r.total).toBeCloseTo(bruteForce(m, rows, cols, sense), 9);
      expect(r.optimality.optimal).toBe(true);
    }), { numRuns: 400 });
  });

  it("also on 8×8 with continuous values", () => {
    fc.assert(fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }), (values) => {
      const m = Float64Array.from(values);
      expect(linearSumAssignment(m, 8, 8, { sense: "max" }).total).toBeCloseTo(bruteForce(m, 8, 8, "max"), 9);
    }), { numRuns: 20 });
  });

  it("equals scipy's optimal totals on 300×300, 300×200 and 200×300 matrices", () => {
    const fixture = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "lap_reference.json"), "utf8")) as { cases: { rows: number; cols: number; seed: number; maximize: boolean; total: number; pairs: number }[] };
    for (const c of fixture.cases) {
      const m = new Float32Array(c.rows * c.cols);
      for (let i = 0; i < c.rows; i++) for (let j = 0; j < c.cols; j++) m[i * c.cols + j] = ((i * 7919 + j * 104729 + i * j * 31 + c.seed * 15485863) % 1000003) / 1000003 - 0.5;
      const r = linearSumAssignment(m, c.rows, c.cols, { sense: c.maximize ? "max" : "min" });
      expect(r.rowIndices.length).toBe(c.pairs);
      expect(Math.abs(r.total - c.total)).toBeLessThan(1e-9 * Math.abs(c.total));
      expect(r.optimality.optimal).toBe(true);
    }
  });

  it("handles degenerate inputs: all equal, one row, one column, zero columns, duplicate rows", () => {
    const eq = linearSumAssignment(new Float64Array(16).fill(3), 4, 4);
    expect(eq.total).toBe(12);
    expect(Array.from(eq.colIndices).sort()).toEqual([0, 1, 2, 3]);
    const oneRow = linearSumAssignment(Float64Array.from([5, 2, 9]), 1, 3);
    expect(Array.from(oneRow.colIndices)).toEqual([1]);
    const oneCol = linearSumAssignment(Float64Array.from([5, 2, 9]), 3, 1, { sense: "max" });
    expect(Array.from(oneCol.rowIndices)).toEqual([2]);
    const empty = linearSumAssignment(new Float64Array(0), 3, 0);
    expect(empty.rowIndices.length).toBe(0);
    expect(empty.total).toBe(0);
    const dup = linearSumAssignment(Float64Array.from([1, 2, 1, 2, 1, 2]), 3, 2, { sense: "max" });
    expect(dup.total).toBe(3);
  });

  it("is deterministic: the same matrix always gives the same matching", () => {
    const m = Float64Array.from({ length: 100 }, (_, i) => (i * 37) % 7);
    const a = linearSumAssignment(m, 10, 10);
    const b = linearSumAssignment(m, 10, 10);
    expect(Array.from(a.colIndices)).toEqual(Array.from(b.colIndices));
  });

  it("rejects NaN and infinities with the entry named, unless infinities are declared forbidden", () => {
    expect(() => linearSumAssignment(Float64Array.from([1, NaN, 3, 4]), 2, 2)).toThrow(/entry \(0, 1\) is NaN/);
    expect(() => linearSumAssignment(Float64Array.from([1, Infinity, 3, 4]), 2, 2)).toThrow(/forbidden: true/);
    expect(() => linearSumAssignment(Float64Array.from([1, -Infinity, 3, 4]), 2, 2)).toThrow(/unbounded/);
    const f = linearSumAssignment(Float64Array.from([1, -Infinity, -Infinity, 4]), 2, 2, { sense: "max", forbidden: true });
    expect(f.total).toBe(5);
    expect(() => linearSumAssignment(Float64Array.from([1, -Infinity, 2, -Infinity]), 2, 2, { sense: "max", forbidden: true })).toThrow(AssignmentError);
    expect(() => linearSumAssignment(new Float64Array(5), 2, 3)).toThrow(/5 entries, expected 2×3/);
  });

  it("the optimality audit catches a tampered (non-optimal) matching", () => {
    const m = Float64Array.from([4, 1, 3, 2, 0, 5, 3, 2, 2]);
    const r = linearSumAssignment(m, 3, 3);
    expect(verifyAssignment(m, 3, 3, r).optimal).toBe(true);
    const swapped = { ...r, colIndices: Int32Array.from([r.colIndices[1]!, r.colIndices[0]!, r.colIndices[2]!]) };
    const audit = verifyAssignment(m, 3, 3, swapped);
    expect(audit.optimal).toBe(false);
    expect(audit.maxSlacknessViolation).toBeGreaterThan(0.5);
  });
});
