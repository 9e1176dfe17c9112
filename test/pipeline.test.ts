/**
 * The study end to end on a small random GPT-2 with the real vocabulary: sweep → runs with receipts →
 * stability report; resumability (finished runs skipped, a half-written run redone); bit-identical SAE files
 * for the same seed at 1 and 2 matmul threads; the CLI's one-line errors.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { randomGPT2Weights } from "../src/gpt2/random_model.ts";
import { writeCheckpoint } from "../src/gpt2/checkpoint_writer.ts";
import { runSweep } from "../src/study/pipeline.ts";
import { buildStabilityReport, findRuns } from "../src/study/stability.ts";
import { renderHtml, renderMarkdown } from "../src/study/report/render.ts";
import { gridConditions, type SweepSpec } from "../src/study/spec.ts";
import { verifyManifest } from "../src/study/receipts.ts";
import { setThreads } from "../src/tensor/wasm/index.ts";
import { main } from "../src/cli/main.ts";
import { runCliAsync } from "./helpers/cli.ts";

const root = mkdtempSync(join(tmpdir(), "pipeline-"));
const weights = join(root, "tiny-gpt2");
const cacheDir = join(root, "cache");

function spec(name: string): SweepSpec {
  return {
    name, model: "gpt2", weights, corpus: "brown", windowing: "standard", seqLen: 32, maxTokens: 600, includeSpecial: false,
    residual: "centered", hookTemplate: "blocks.{layer}.hook_resid_pre", conditions: gridConditions([0, 1], [24], [4], ["topk"]),
    seeds: [1, 2, 3], epochs: 3, batchSize: 64, lr: 1e-3, evalTokens: 0,
  };
}

/** The first sweep computes quality metrics (held-out tokens), so the resume test reruns it with them too. */
const withQuality = () => ({ ...spec("sweep"), evalTokens: 128 });
const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

beforeAll(() => {
  writeCheckpoint(weights, randomGPT2Weights({ nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 64, vocabSize: 50257, layerNormEpsilon: 1e-5 }, 5));
});

describe("the study pipeline", () => {
  it("runs a sweep, writes receipts, and reports stability with nulls and CIs", async () => {
    const out = join(root, "sweep");
    const result = await runSweep(withQuality(), { outDir: out, cacheDir, threads: 2, quiet: true, log: () => {} });
    expect(result.trained).toBe(6);
    const run = join(out, "L0-n24-k4-topk", "seed-1");
    for (const f of ["spec.json", "environment.json", "history.json", "metrics.json", "feature_analysis.json", "manifest.json", "sae/cfg.json", "sae/sae_weights.safetensors"]) expect(existsSync(join(run, f)), f).toBe(true);
    expect(verifyManifest(run).ok).toBe(true);
    const env = JSON.parse(readFileSync(join(run, "environment.json"), "utf8"));
    expect(env.seed).toBe(1);
    expect(env.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(env.corpusSha256).toMatch(/^[0-9a-f]{64}$/);
    const metrics = JSON.parse(readFileSync(join(run, "metrics.json"), "utf8"));
    expect(metrics.realTokens).toBe(600);
    const report = buildStabilityReport(findRuns([out]), { threshold: 0.9, bootstrap: 100, nullDraws: 5, rngSeed: 0 }, "test");
    expect(report.conditions.map((c) => c.id).sort()).toEqual(["L0-n24-k4-topk", "L1-n24-k4-topk"]);
    const mode = report.conditions[0]!.modes[0]!;
    expect(mode.pooled).toHaveLength(3 * 24);
    expect(mode.median.ci).not.toBeNull();
    expect(mode.median.pValue).toBeGreaterThan(0);
    expect(renderMarkdown(report)).toMatch(/\| condition \| matching \| median best-match cosine/);
    expect(renderHtml(report)).toMatch(/<svg/);
    expect(mode.shared).toBeNull();
    // With Paulo & Belrose's criterion: encoders come from the SAE files, the fraction gets its CI and null.
    const shared = buildStabilityReport(findRuns([out]), { threshold: 0.9, bootstrap: 100, nullDraws: 5, rngSeed: 0, sharedThreshold: 0.7 }, "test");
    const sharedMode = shared.conditions[0]!.modes[0]!;
    for (const stat of [sharedMode.shared!.sharedPB, sharedMode.shared!.samePartner, sharedMode.shared!.sharedSamePartner]) {
      expect(stat.value).toBeGreaterThanOrEqual(0);
      expect(stat.ci).not.toBeNull();
    }
    expect(sharedMode.pairs[0]!.shared!.sharedPB).toBeGreaterThanOrEqual(sharedMode.pairs[0]!.shared!.sharedSamePartner);
    expect(sharedMode.median.value).toBe(mode.median.value); // the decoder matching is the same either way
    expect(renderMarkdown(shared)).toMatch(/\| shared \(P&B\) \(> 0\.7\) \| 95% CI \| null \| same partner \| shared, same partner \|/);
    expect(renderMarkdown(shared)).toMatch(/\*\*shared \(P&B\)\*\*: Paulo & Belrose's definition/);
    // Quality on held-out tokens, per run and per condition.
    expect(metrics.quality.tokens).toBe(128);
    expect(metrics.quality.ceClean).toBeGreaterThan(0);
    expect(Number.isFinite(metrics.quality.ceLossScore) && Number.isFinite(metrics.quality.explainedVariance)).toBe(true);
    const q = report.conditions[0]!.quality!;
    expect(q.explainedVariance.ci).not.toBeNull();
    expect(renderMarkdown(report)).toMatch(/## Quality on held-out tokens[\s\S]*\| layer 0, 24 features, k 4, topk \| 128 \|/);
  });

  it("resumes: complete runs are skipped, a run killed half-way is redone cleanly with the same result", async () => {
    const out = join(root, "sweep");
    const victim = join(out, "L1-n24-k4-topk", "seed-2");
    const before = sha(join(victim, "sae", "sae_weights.safetensors"));
    // Simulate kill -9 mid-run: manifest gone, a half-written file left behind.
    rmSync(join(victim, "manifest.json"));
    writeFileSync(join(victim, "sae", "sae_weights.safetensors.tmp-999"), "partial");
    const again = await runSweep(withQuality(), { outDir: out, cacheDir, threads: 2, quiet: true, log: () => {} });
    expect(again.trained).toBe(1);
    expect(again.skipped).toBe(5);
    expect(readdirSync(join(victim, "sae")).sort()).toEqual(["cfg.json", "sae_weights.safetensors"]);
    expect(sha(join(victim, "sae", "sae_weights.safetensors"))).toBe(before);
  });

  it("a real kill -9 of the CLI mid-sweep leaves nothing that looks complete, and a rerun finishes", async () => {
    const out = join(root, "killed");
    const args = (epochs: string) => ["--import", "tsx", "src/cli/main.ts", "sweep", "--weights", weights, "--layers", "0", "--features", "24", "--k", "4", "--seeds", "1-2", "--max-tokens", "600", "--seq-len", "32", "--epochs", epochs, "--batch-size", "64", "--eval-tokens", "0", "--out", out, "--cache", cacheDir, "--quiet", "--processes", "2"];
    const runDir = join(out, "L0-n24-k4-topk", "seed-1");
    const child = spawn(process.execPath, args("100000"), { stdio: "ignore" });
    const exited = new Promise<string | null>((ok) => child.on("exit", (_code, signal) => ok(signal)));
    // The sweep's training workers: the study layer's worker module, forked by the CLI's sweep.
    const workersOf = () => readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(join("/proc", p, "cmdline"), "utf8").includes(join("src", "study", "sweep_worker.ts"));
      } catch {
        return false;
      }
    });
    for (let i = 0; i < 300 && !existsSync(join(runDir, "training-state.safetensors")) && child.exitCode === null; i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(workersOf().length).toBeGreaterThan(0); // training in worker processes when the parent is killed
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    expect(existsSync(runDir)).toBe(true); // it was mid-run…
    expect(existsSync(join(runDir, "manifest.json"))).toBe(false); // …and nothing claims to be complete
    // Its training workers notice the parent is gone and stop too (no orphan keeps training for 100000 epochs).
    for (let i = 0; i < 50 && workersOf().length > 0; i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(workersOf()).toEqual([]);
    const finished = await runCliAsync(args("2").slice(3)); // async: a test worker blocked in spawnSync misses vitest's heartbeats
    expect(finished.status, finished.stderr).toBe(0);
    expect(verifyManifest(runDir).ok).toBe(true);
    expect(existsSync(join(runDir, "training-state.safetensors"))).toBe(false);
  });

  it("the same seed gives bit-identical SAE weights at 1 and 2 threads, and another seed differs", async () => {
    const hashes: string[] = [];
    for (const threads of [1, 2]) {
      setThreads(threads);
      const out = join(root, `threads-${threads}`);
      await runSweep({ ...spec(`t${threads}`), conditions: gridConditions([1], [24], [4], ["topk", "seed-report"]), seeds: [7] }, { outDir: out, cacheDir, threads, quiet: true, log: () => {} });
      hashes.push(["topk", "seed-report"].map((r) => sha(join(out, `L1-n24-k4-${r}`, "seed-7", "sae", "sae_weights.safetensors"))).join(","));
    }
    setThreads(2);
    expect(hashes[0]).toBe(hashes[1]);
    const other = join(root, "sweep", "L1-n24-k4-topk", "seed-1", "sae", "sae_weights.safetensors");
    expect(hashes[0]!.split(",")[0]).not.toBe(sha(other));
  });

  it("runs trained in two worker processes are bit-identical to runs trained in this process", async () => {
    const out = join(root, "processes");
    const cli = await runCliAsync([
      "sweep", "--weights", weights, "--layers", "0,1", "--features", "24", "--k", "4", "--seeds", "1-3",
      "--max-tokens", "600", "--seq-len", "32", "--epochs", "3", "--batch-size", "64", "--lr", "0.001", "--eval-tokens", "128", "--out", out, "--cache", cacheDir,
      "--processes", "2", "--threads", "2", "--quiet",
    ]);
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/training up to 6 runs in 2 processes/);
    for (const condition of ["L0-n24-k4-topk", "L1-n24-k4-topk"]) {
      for (const seed of [1, 2, 3]) {
        const file = join(condition, `seed-${seed}`, "sae", "sae_weights.safetensors");
        expect(sha(join(out, file)), file).toBe(sha(join(root, "sweep", file)));
        // The workers loaded the same model and held-out windows: the same quality metrics, to the bit.
        const quality = (dir: string) => JSON.parse(readFileSync(join(dir, condition, `seed-${seed}`, "metrics.json"), "utf8")).quality;
        expect(quality(out)).toEqual(quality(join(root, "sweep")));
      }
    }
  });

  it("a library sweep (runSweep from a script, no worker entry given) trains in worker processes, bit-identical", async () => {
    // This test runner loads the sources without tsx's flags: the study layer's worker module gets tsx's loader added.
    const out = join(root, "library-processes");
    const lines: string[] = [];
    const result = await runSweep({ ...spec("sweep"), conditions: gridConditions([1], [24], [4], ["topk"]), seeds: [1, 2] }, { outDir: out, cacheDir, threads: 2, processes: 2, quiet: true, log: (l) => lines.push(l) });
    expect(result.trained).toBe(2);
    expect(lines.join("\n")).toMatch(/training up to 2 runs in 2 processes/);
    for (const seed of [1, 2]) {
      const file = join("L1-n24-k4-topk", `seed-${seed}`, "sae", "sae_weights.safetensors");
      expect(sha(join(out, file)), file).toBe(sha(join(root, "processes", file)));
    }
  });

  it("CLI errors are one line naming the problem and the fix", async () => {
    const lines: string[] = [];
    const original = console.error;
    console.error = (m: string) => lines.push(m);
    try {
      expect(await main(["sweep", "--bogus"])).toBe(2);
      expect(await main(["predict", "--prompt", "hi", "--weights", join(root, "nowhere")])).toBe(1);
      expect(await main(["frobnicate"])).toBe(2);
    } finally {
      console.error = original;
    }
    expect(lines[0]).toMatch(/unknown flag --bogus for `sae-seeds sweep`; valid flags:/);
    expect(lines[1]).toMatch(/no GPT-2 weights in .*nowhere.*download.*--model random/);
    expect(lines[2]).toMatch(/unknown command "frobnicate"/);
    for (const l of lines) expect(l.split("\n")).toHaveLength(1);
  });
});
