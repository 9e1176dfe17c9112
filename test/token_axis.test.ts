/**
 * Training tokens as a sweep dimension: `--max-tokens 2000,20000,…` makes a condition per value (named, priced and
 * identified by it), each training on its prefix of one cache; beyond the corpus, with --repeat-corpus, the surplus
 * becomes passes (a last partial one where needed). Every run records its training curve, its convergence and its
 * latents' held-out frequencies.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../src/tensor/rng.ts";
import { arrayRows } from "../src/data/rows.ts";
import { defaultTrainConfig } from "../src/sae/config.ts";
import { trainSAE, memoryCheckpointStore } from "../src/sae/trainer.ts";
import { CURVE_POINTS, convergenceOf, MIN_STEPS } from "../src/sae/training_curve.ts";
import { applyFlagSettings, conditionId, DEFAULT_SPEC, runBudget, validateSpec, readSpecFile, gridConditions } from "../src/study/spec.ts";
import { runSweep } from "../src/study/pipeline.ts";
import { buildStabilityReport, compactDistribution, findRuns } from "../src/study/stability.ts";
import { renderHtml, renderMarkdown, tokenAxisRows } from "../src/study/report/render.ts";
import { tinyCheckpoint, tinySpec } from "./helpers/tiny_model.ts";
import { writeFileSync } from "node:fs";

const root = mkdtempSync(join(tmpdir(), "token-axis-"));
let weights = "";
beforeAll(() => {
  weights = tinyCheckpoint(root);
});

describe("the token axis in specs", () => {
  it("several --max-tokens values make a condition each, named by its tokens; one value is the old single setting", () => {
    const axis = validateSpec(applyFlagSettings(DEFAULT_SPEC, { "max-tokens": [2000, 20000, 200000], layers: [3], features: [512], k: [8] }));
    expect(axis.conditions.map(conditionId)).toEqual(["L3-n512-k8-topk-t2000", "L3-n512-k8-topk-t20000", "L3-n512-k8-topk-t200000"]);
    expect(axis.maxTokens).toBe(200000);
    const single = validateSpec(applyFlagSettings(DEFAULT_SPEC, { "max-tokens": [50000] }));
    expect(single.conditions.map(conditionId)).toEqual(["L6-n128-k8-topk"]);
    expect(single.maxTokens).toBe(50000);
    // Other axes keep the token axis.
    const more = applyFlagSettings(axis, { features: [128, 512] });
    expect(more.conditions).toHaveLength(6);
    const file = join(root, "axis.yaml");
    writeFileSync(file, "maxTokens: [100, 1000]\nlayers: [0]\n");
    expect(readSpecFile(file, DEFAULT_SPEC).conditions.map(conditionId)).toEqual(["L0-n128-k8-topk-t100", "L0-n128-k8-topk-t1000"]);
    writeFileSync(file, "maxTokens: 700\n");
    expect(readSpecFile(file, DEFAULT_SPEC).maxTokens).toBe(700);
    expect(() => validateSpec({ ...axis, windowing: "faithful" })).toThrow(/token axis .* needs standard windowing/);
    expect(() => validateSpec({ ...axis, maxTokens: 1000 })).toThrow(/trains on 2000 tokens, more than the 1000 the sweep's cache holds/);
  });

  it("a budget beyond the corpus becomes passes over it, the last one partial", () => {
    const spec = { ...DEFAULT_SPEC, epochs: 1 };
    const c = { ...gridConditions([0], [64], [4], ["topk"])[0]!, tokens: 5000 };
    expect(runBudget(spec, c, 10_000)).toEqual({ rows: 5000, tokensSeen: 5000, epochs: 1 });
    expect(runBudget(spec, c, 2000)).toEqual({ rows: 2000, tokensSeen: 5000, epochs: 3, trainTokens: 5000 });
    expect(runBudget({ ...spec, epochs: 2 }, c, 2500)).toEqual({ rows: 2500, tokensSeen: 10000, epochs: 4 });
  });
});

describe("reports stay small", () => {
  it("keep a long pooled distribution as evenly spaced order statistics", () => {
    const values = Float64Array.from({ length: 10_001 }, (_, i) => i / 10_000);
    const kept = compactDistribution(values, 101);
    expect(kept).toHaveLength(101);
    expect(kept[0]).toBe(0);
    expect(kept[50]).toBe(0.5);
    expect(kept[100]).toBe(1);
    expect(compactDistribution([0.123456789, -0.5])).toEqual([0.12346, -0.5]);
  });
});

describe("the trainer's token budget and curve", () => {
  const data = Rng.stream(1, "budget").fillNormal(new Float32Array(1000 * 8)) as Float32Array;

  it("stops after trainTokens, part-way through the last pass, and keeps at most CURVE_POINTS points", () => {
    const cfg = defaultTrainConfig("topk", { dIn: 8, dSae: 32, k: 4, seed: 1 }, { epochs: 3, trainTokens: 2500, batchSize: 64 });
    const r = trainSAE({ config: cfg, data: arrayRows(data, 8) });
    expect(r.tokensSeen).toBe(2500);
    expect(r.steps).toBe(16 + 16 + 8); // 1000 rows = 16 batches (the last of 40), twice; then 500 rows = 8 batches
    expect(r.curve.length).toBeLessThanOrEqual(CURVE_POINTS);
    expect(r.curve.at(-1)!.step).toBe(40);
    expect(() => trainSAE({ config: { ...cfg, epochs: 2 }, data: arrayRows(data, 8) })).toThrow(/trainTokens 2500 over 1000 rows needs epochs = 3/);
    // Bucketed: a long run still has CURVE_POINTS points.
    const long = trainSAE({ config: defaultTrainConfig("topk", { dIn: 8, dSae: 16, k: 2, seed: 1 }, { epochs: 30, batchSize: 64 }), data: arrayRows(data, 8) });
    expect(long.steps).toBe(480);
    expect(long.curve).toHaveLength(CURVE_POINTS);
  });

  it("a resumed run has the uninterrupted run's curve and weights", () => {
    const cfg = defaultTrainConfig("topk", { dIn: 8, dSae: 32, k: 4, seed: 2 }, { epochs: 2, batchSize: 50, checkpointEvery: 7 });
    const whole = trainSAE({ config: cfg, data: arrayRows(data, 8) });
    const store = memoryCheckpointStore();
    expect(trainSAE({ config: cfg, data: arrayRows(data, 8), checkpoints: store, stopAfterSteps: 13 }).finished).toBe(false);
    const resumed = trainSAE({ config: cfg, data: arrayRows(data, 8), checkpoints: store });
    expect(resumed.curve).toEqual(whole.curve);
    expect(Array.from(resumed.sae.params.wDec)).toEqual(Array.from(whole.sae.params.wDec));
  });

  it("applies the convergence rule: enough steps, and a flat last fifth", () => {
    const flat = Array.from({ length: 100 }, (_, i) => ({ step: (i + 1) * 5, fvu: 0.2, l0: 8 }));
    expect(convergenceOf(flat, 500)).toMatchObject({ steps: 500, endDrop: 0, converged: true });
    const falling = flat.map((p) => ({ ...p, fvu: 1 / p.step }));
    expect(convergenceOf(falling, 500).converged).toBe(false);
    expect(convergenceOf(falling, 500).endDrop).toBeGreaterThan(0.2);
    expect(convergenceOf(flat.slice(0, 30), MIN_STEPS - 50).converged).toBe(false); // too few steps
  });
});

describe("a sweep with a token axis", () => {
  it("trains each budget on its prefix of one cache, repeats the corpus when asked, and records curves, convergence and held-out frequencies", async () => {
    const out = join(root, "axis"), cacheDir = join(root, "cache");
    const log: string[] = [];
    const spec = validateSpec(tinySpec("axis", weights, {
      conditions: gridConditions([1], [24], [4], ["topk"], [150, 600, 1800]), maxTokens: 1800, repeatCorpus: true, corpus: join(root, "short.txt"),
      seeds: [1, 2], epochs: 1, evalTokens: 64,
    }));
    // A corpus of ~900 tokens: 1800 tokens per pass is two passes over it.
    writeFileSync(join(root, "short.txt"), Array.from({ length: 40 }, (_, i) => `Document ${i} says that the quick brown fox number ${i} jumps over the lazy dog near the river bank today.`).join("\n"));
    const result = await runSweep(spec, { outDir: out, cacheDir, threads: 2, quiet: true, log: (l) => log.push(l) });
    expect(result.trained).toBe(6);
    const run = (t: number) => join(out, `L1-n24-k4-topk-t${t}`, "seed-1");
    const metrics = (t: number) => JSON.parse(readFileSync(join(run(t), "metrics.json"), "utf8"));
    expect(metrics(150)).toMatchObject({ trainingRows: 150, tokensSeen: 150, passes: 1 });
    expect(metrics(600)).toMatchObject({ trainingRows: 600, tokensSeen: 600, passes: 1 });
    const big = metrics(1800);
    expect(big.tokensSeen).toBe(1800);
    expect(big.trainingRows).toBeLessThan(1800);
    expect(big.passes).toBeCloseTo(1800 / big.trainingRows, 12);
    expect(log.some((l) => /L1-n24-k4-topk-t1800: 1800 tokens per pass asked, the corpus yields \d+: it is repeated, \d\.\d\d passes/.test(l))).toBe(true);
    for (const t of [150, 600, 1800]) {
      const m = metrics(t);
      // Full passes over the run's rows in batches of 64, then what is left of the budget.
      const rows = m.trainingRows, passes = Math.ceil(t / rows);
      expect(m.convergence.steps).toBe((passes - 1) * Math.ceil(rows / 64) + Math.ceil((t - (passes - 1) * rows) / 64));
      expect(m.convergence.converged).toBe(false); // a handful of steps: flagged, by the rule
      const curve = JSON.parse(readFileSync(join(run(t), "training_curve.json"), "utf8"));
      expect(curve.steps).toBe(m.convergence.steps);
      const freq = JSON.parse(readFileSync(join(run(t), "heldout_frequency.json"), "utf8"));
      expect(freq.frequency).toHaveLength(24);
      expect(freq.tokens).toBe(64);
      const identity = JSON.parse(readFileSync(join(run(t), "identity.json"), "utf8")).identity;
      expect(identity.budget.tokensPerPass).toBe(t);
      expect(identity.budget.tokensSeen).toBe(t);
    }
    // A rerun reuses every run.
    expect((await runSweep(spec, { outDir: out, cacheDir, threads: 2, quiet: true, log: () => {} })).skipped).toBe(6);
    // The report: the token axis with its budgets, the three shared definitions, presence, subspaces, frequencies,
    // and every condition flagged as not converged (a handful of steps each), naming the rule.
    const report = buildStabilityReport(findRuns([out]), { threshold: 0.9, bootstrap: 50, nullDraws: 5, rngSeed: 0, sharedThreshold: 0.7 }, "axis");
    const rows = tokenAxisRows(report);
    expect(rows.map((r) => r.tokensPerPass)).toEqual(["150", "600", "1800"]);
    expect(rows[2]!.passes).toBe((1800 / big.trainingRows).toFixed(2));
    expect(rows.every((r) => r.converged === "no (2 of 2 runs not)")).toBe(true);
    const mode = report.conditions[0]!.modes[0]!;
    expect(mode.shared!.sharedPB.nullMean).not.toBeNull();
    expect(mode.presence.counts.reduce((a, b) => a + b, 0)).toBe(2 * 24);
    expect(mode.frequency).not.toBeNull();
    const md = renderMarkdown(report);
    expect(md).toMatch(/## Training tokens \(token axis; full matching; 95% CI\)/);
    expect(md).toMatch(/\*\*Not converged\*\* \(3 of 3 conditions\)/);
    expect(md).toMatch(/Rule — converged: at least 200 optimizer steps/);
    expect(md).toMatch(/## Across seeds, subspaces, and which latents are stable/);
    const html = renderHtml(report);
    expect(html).toMatch(/against training tokens<\/h3>/);
    expect(html.match(/<svg/g)!.length).toBeGreaterThan(10);
    // Without --repeat-corpus the short corpus is refused in one line.
    await expect(runSweep({ ...spec, repeatCorpus: false }, { outDir: join(root, "no-repeat"), cacheDir, threads: 2, quiet: true, log: () => {} }))
      .rejects.toThrow(/yields \d+ tokens, fewer than --max-tokens 1800; .*--repeat-corpus/);
    expect(existsSync(join(root, "no-repeat", "L1-n24-k4-topk-t150"))).toBe(false);
  });
});
