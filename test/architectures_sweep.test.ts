/**
 * One sweep over four architectures at one target L0, read in one table: per recipe the stability (median matched
 * cosine, PW-MCC, shared fraction, null) beside the quality on held-out tokens (explained variance, CE-loss score,
 * L0, dead), each with its interval.
 */
import { describe, it, expect } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSweep } from "../src/study/pipeline.ts";
import { buildStabilityReport, findRuns } from "../src/study/stability.ts";
import { architectureRows, renderHtml, renderMarkdown } from "../src/study/report/render.ts";
import { gridConditions } from "../src/study/spec.ts";
import { tinyCheckpoint, tinySpec } from "./helpers/tiny_model.ts";

describe("a sweep over architectures at matched sparsity", () => {
  it("reports every recipe in one table with stability and quality", async () => {
    const root = mkdtempSync(join(tmpdir(), "archs-"));
    const weights = tinyCheckpoint(root);
    const recipes = ["topk", "batchtopk", "jumprelu", "relu-l1"] as const;
    const spec = tinySpec("archs", weights, { conditions: gridConditions([1], [32], [4], [...recipes]), seeds: [1, 2, 3], epochs: 4, maxTokens: 1200, batchSize: 64, evalTokens: 128 });
    const out = join(root, "sweep");
    await runSweep(spec, { outDir: out, cacheDir: join(root, "cache"), threads: 2, quiet: true, log: () => {} });
    // The penalty recipes were steered toward the target L0 (k = 4): their history says so.
    for (const recipe of ["jumprelu", "relu-l1"]) {
      const history = JSON.parse(readFileSync(join(out, `L1-n32-k4-${recipe}`, "seed-1", "history.json"), "utf8")) as { targetL0?: number; sparsityCoefficient?: number }[];
      expect(history.at(-1)!.targetL0).toBe(4);
      expect(history.at(-1)!.sparsityCoefficient).toBeGreaterThan(0);
    }
    const report = buildStabilityReport(findRuns([out]), { threshold: 0.9, bootstrap: 100, nullDraws: 5, rngSeed: 0, sharedThreshold: 0.7 }, "architectures");
    const rows = architectureRows(report);
    expect(rows.map((r) => r.recipe).sort()).toEqual([...recipes].sort());
    for (const r of rows) {
      expect(r.group).toBe("layer 1, 32 features, k / target L0 4");
      for (const cell of [r.median, r.pwmcc, r.shared, r.explainedVariance, r.ceLossScore, r.l0, r.dead]) expect(cell).toMatch(/^-?\d+\.\d+%? \[-?\d+\.\d+%?, -?\d+\.\d+%?\]$/);
      expect(r.nullMedian).toMatch(/^\d\.\d{3}$/);
    }
    expect(renderMarkdown(report)).toMatch(/## Architectures at matched sparsity[\s\S]*\| layer 1, 32 features, k \/ target L0 4 \| relu-l1 \|/);
    expect(renderHtml(report)).toMatch(/<h2>Architectures at matched sparsity/);
  });
});
