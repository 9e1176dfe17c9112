import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { planSlices } from "../src/tensor/wasm/partition.ts";

const tile = { mr: 4, nr: 8 };

describe("planSlices", () => {
  it("covers C exactly once with at most `threads` aligned, balanced slices along its longer side", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 16 }), (m, n, threads) => {
      const slices = planSlices(m, n, threads, tile);
      expect(slices.length).toBeGreaterThanOrEqual(1);
      expect(slices.length).toBeLessThanOrEqual(threads);
      const byColumns = n >= m;
      const unit = byColumns ? tile.nr : tile.mr;
      let next = 0;
      for (const s of slices) {
        const [start, size, otherStart, otherSize] = byColumns ? [s.colStart, s.cols, s.rowStart, s.rows] : [s.rowStart, s.rows, s.colStart, s.cols];
        expect([otherStart, otherSize]).toEqual([0, byColumns ? m : n]); // whole rows (or columns)
        expect(start).toBe(next); // contiguous, in order, no overlap
        expect(start % unit).toBe(0); // the micro-tile grid is the same as one thread's
        expect(size).toBeGreaterThan(0);
        next = start + size;
      }
      expect(next).toBe(byColumns ? n : m);
      // Balanced: whole units per slice differ by at most one (the last slice may end in a partial unit).
      const units = slices.map((s) => Math.ceil((byColumns ? s.cols : s.rows) / unit));
      expect(Math.max(...units) - Math.min(...units)).toBeLessThanOrEqual(1);
    }), { numRuns: 500 });
  });

  it("uses one slice per thread when there is enough to split, and never more slices than units", () => {
    expect(planSlices(64, 2304, 2, tile)).toEqual([
      { rowStart: 0, rows: 64, colStart: 0, cols: 1152 },
      { rowStart: 0, rows: 64, colStart: 1152, cols: 1152 },
    ]);
    expect(planSlices(4096, 768, 2, tile).map((s) => [s.rowStart, s.rows])).toEqual([[0, 2048], [2048, 2048]]);
    expect(planSlices(3, 8, 4, tile)).toEqual([{ rowStart: 0, rows: 3, colStart: 0, cols: 8 }]);
    expect(() => planSlices(10, 10, 0, tile)).toThrow(RangeError);
  });
});
