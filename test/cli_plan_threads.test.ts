/** `--threads` reaches the matmul kernel, and `plan` prices a sweep the way it will run (runs at once, threads each). */
import { describe, it, expect, afterAll } from "vitest";
import { applyThreads, processCount } from "../src/study/threads.ts";
import { getThreads, setThreads } from "../src/tensor/wasm/index.ts";
import { estimatePlan, formatPlan } from "../src/study/plan.ts";
import { gridConditions, type SweepSpec } from "../src/study/spec.ts";
import { DEFAULT_SPEC } from "../src/study/spec.ts";

const before = getThreads();
afterAll(() => setThreads(before));

describe("threads and processes", () => {
  it("--threads N sets the matmul kernel's thread count; bad values are usage errors", () => {
    applyThreads(1);
    expect(getThreads()).toBe(1);
    applyThreads(2);
    expect(getThreads()).toBe(2);
    expect(() => applyThreads(0)).toThrow(/positive integer/);
    expect(processCount(3)).toBe(3);
    expect(() => processCount(-1)).toThrow(/--processes must be a positive integer/);
  });
});

describe("plan", () => {
  const spec: SweepSpec = { ...DEFAULT_SPEC, maxTokens: 4000, conditions: gridConditions([0, 6], [128], [8], ["topk"]), seeds: [1, 2, 3, 4] };

  it("prices the cache and every condition, and divides training wall time by the runs trained at once", async () => {
    const one = await estimatePlan(spec, { threads: 2, processes: 1 });
    const two = await estimatePlan(spec, { threads: 2, processes: 2 });
    expect(one.runs).toBe(8);
    expect(one.blocksNeeded).toBe(6);
    expect(one.cacheSeconds).toBeGreaterThan(0);
    expect(one.perCondition.map((c) => c.id)).toEqual(["L0-n128-k8-topk", "L6-n128-k8-topk"]);
    for (const c of [...one.perCondition, ...two.perCondition]) expect(c.rowsPerSecond).toBeGreaterThan(0);
    expect(two.processes).toBe(2);
    expect(two.threadsPerProcess).toBe(1);
    expect(two.trainWallSeconds).toBeCloseTo(two.trainSeconds / 2, 9);
    expect(one.trainWallSeconds).toBe(one.trainSeconds);
    expect(getThreads()).toBe(before); // the probe's thread setting is put back
    expect(formatPlan(spec, two)).toMatch(/2 runs at once with 1 matmul thread each/);
  });
});
