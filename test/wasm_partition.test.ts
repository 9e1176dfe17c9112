import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MIN_TASK_EXTENT, planSlices, planTasks, TASKS_PER_THREAD } from "../src/tensor/wasm/partition.ts";

const tile = { mr: 4, nr: 8 };

describe("planSlices", () => {
  it("covers C exactly once with at most `parts` aligned, balanced slices along its longer side", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 16 }), (m, n, parts) => {
      const slices = planSlices(m, n, parts, tile);
      expect(slices.length).toBeGreaterThanOrEqual(1);
      expect(slices.length).toBeLessThanOrEqual(parts);
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

  it("makes exactly `parts` slices when there are enough whole tiles, and never more slices than tiles", () => {
    expect(planSlices(64, 2304, 2, tile)).toEqual([
      { rowStart: 0, rows: 64, colStart: 0, cols: 1152 },
      { rowStart: 0, rows: 64, colStart: 1152, cols: 1152 },
    ]);
    expect(planSlices(4096, 768, 2, tile).map((s) => [s.rowStart, s.rows])).toEqual([[0, 2048], [2048, 2048]]);
    expect(planSlices(3, 8, 4, tile)).toEqual([{ rowStart: 0, rows: 3, colStart: 0, cols: 8 }]);
    expect(() => planSlices(10, 10, 0, tile)).toThrow(RangeError);
  });
});

describe("planTasks", () => {
  it("gives one task to one thread, and otherwise one to TASKS_PER_THREAD per thread, long enough to be worth their packing", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 1, max: 8 }), (m, n, threads) => {
      const tasks = planTasks(m, n, threads, tile);
      const extent = Math.max(m, n);
      const unit = n >= m ? tile.nr : tile.mr;
      if (threads === 1) {
        expect(tasks).toEqual([{ rowStart: 0, rows: m, colStart: 0, cols: n }]);
        return;
      }
      expect(tasks.length).toBe(Math.min(Math.ceil(extent / unit), Math.max(threads, Math.min(threads * TASKS_PER_THREAD, Math.floor(extent / MIN_TASK_EXTENT)))));
      if (tasks.length > threads) {
        // Splitting beyond one task per thread only when every task stays near MIN_TASK_EXTENT or longer.
        for (const t of tasks) expect(n >= m ? t.cols : t.rows).toBeGreaterThanOrEqual(MIN_TASK_EXTENT - unit);
      }
    }), { numRuns: 500 });
  });

  it("splits the GPT-2 and SAE shapes into several tasks per thread", () => {
    expect(planTasks(64, 2304, 2, tile)).toHaveLength(8);
    expect(planTasks(4096, 8192, 2, tile)).toHaveLength(8);
    expect(planTasks(300, 517, 2, tile)).toHaveLength(2);
  });
});
