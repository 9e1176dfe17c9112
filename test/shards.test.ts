/**
 * Shards: a fixed assignment of a sweep's runs to N tasks that depends only on the spec, balanced by cost; `auto` reads
 * Slurm's or Kubernetes' task index; overlapping shard processes started at once still train each run exactly once.
 */
import { describe, it, expect } from "vitest";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allRuns, assignShards, parseShard, runCost, shardRuns } from "../src/study/shards.ts";
import { gridConditions, DEFAULT_SPEC, conditionId } from "../src/study/spec.ts";
import { scaleSpec } from "../src/study/presets.ts";
import { sweepStatus } from "../src/study/status.ts";
import { tinyCheckpoint, tinySpec, tinySweepArgs } from "./helpers/tiny_model.ts";
import { runCliAsync } from "./helpers/cli.ts";

describe("shards", () => {
  it("cover every run exactly once, the same way every time, balanced by cost rather than count", () => {
    const spec = scaleSpec(); // 400 runs: 5 layers × 4 sizes × 20 seeds
    for (const n of [1, 3, 8, 32]) {
      const shards = Array.from({ length: n }, (_, i) => shardRuns(spec, 768, { index: i, count: n }));
      const ids = shards.flat().map((r) => `${conditionId(r.condition)}/${r.seed}`);
      expect(ids.length).toBe(400);
      expect(new Set(ids).size).toBe(400);
      expect(assignShards(spec, 768, n)).toEqual(assignShards(spec, 768, n));
      const loads = shards.map((s) => s.reduce((t, r) => t + runCost(spec, r.condition, 768), 0));
      const biggest = Math.max(...allRuns(spec).map((r) => runCost(spec, r.condition, 768)));
      // LPT: no shard exceeds the average by more than one run's cost.
      expect(Math.max(...loads) - loads.reduce((a, b) => a + b, 0) / n).toBeLessThanOrEqual(biggest);
    }
    // By count the 8 shards would be equal; by cost, a shard holding n8192 runs holds fewer runs.
    const counts = Array.from({ length: 8 }, (_, i) => shardRuns(spec, 768, { index: i, count: 8 }).length);
    expect(Math.min(...counts)).toBeLessThan(Math.max(...counts));
    expect(runCost(spec, { layer: 0, features: 8192, k: 32, recipe: "topk" }, 768) / runCost(spec, { layer: 0, features: 128, k: 32, recipe: "topk" }, 768)).toBeGreaterThan(50);
  });

  it("read the task index from Slurm or Kubernetes, and refuse what is not a shard", () => {
    expect(parseShard("2/8")).toEqual({ index: 2, count: 8 });
    expect(parseShard("auto", { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "8", SLURM_ARRAY_TASK_MIN: "0" })).toEqual({ index: 5, count: 8 });
    expect(parseShard("auto/8", { SLURM_ARRAY_TASK_ID: "3" })).toEqual({ index: 3, count: 8 }); // a single task resubmitted
    expect(parseShard("auto", { SLURM_ARRAY_TASK_ID: "12", SLURM_ARRAY_TASK_MIN: "10", SLURM_ARRAY_TASK_COUNT: "4" })).toEqual({ index: 2, count: 4 });
    expect(parseShard("auto/4", { JOB_COMPLETION_INDEX: "3" })).toEqual({ index: 3, count: 4 });
    expect(() => parseShard("auto", { JOB_COMPLETION_INDEX: "3" })).toThrow(/give --shard auto\/N/);
    expect(() => parseShard("auto", {})).toThrow(/neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set/);
    expect(() => parseShard("8/8")).toThrow(/--shard 8\/8: shard 8 is not in 0\.\.7$/);
    expect(() => parseShard("1-8")).toThrow(/--shard must be I\/N/);
    const small = { ...DEFAULT_SPEC, conditions: gridConditions([0], [128], [8], ["topk"]), seeds: [1, 2, 3] };
    expect(shardRuns(small, 768, { index: 2, count: 3 })).toHaveLength(1);
  });

  it("overlapping shard processes started at once train each run once", async () => {
    const root = mkdtempSync(join(tmpdir(), "shards-"));
    const weights = tinyCheckpoint(root);
    const out = join(root, "O"), cache = join(root, "cache");
    // One process takes everything, the other half of it: they overlap on two of the four runs.
    const [all, half] = await Promise.all([
      runCliAsync([...tinySweepArgs(weights, out, cache), "--shard", "0/1", "--processes", "1", "--threads", "1"]),
      runCliAsync([...tinySweepArgs(weights, out, cache), "--shard", "1/2", "--processes", "1", "--threads", "1"]),
    ]);
    for (const r of [all!, half!]) expect(r.status, r.stderr).toBe(0);
    const trained = [all!, half!].map((r) => Number(/runs: (\d+) trained/.exec(r.stderr)![1]));
    expect(trained[0]! + trained[1]!).toBe(4);
    expect(readdirSync(cache)).toHaveLength(1);
    expect(sweepStatus(tinySpec("x", weights), out).map((s) => s.state)).toEqual(["complete", "complete", "complete", "complete"]);
  });
});
