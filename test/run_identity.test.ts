/**
 * Results are always what the user asked for: a finished run is reused only when everything that determines it is
 * the same (its identity), the activation cache is checked against its hashes, interrupted writes leave nothing
 * behind, and sweeps sharing a directory never train a run twice.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSweep } from "../src/study/pipeline.ts";
import { RESULTS_VERSION } from "../src/study/run_identity.ts";
import { sweepStatus } from "../src/study/status.ts";
import { buildActivationCache, loadActivationCache, CacheIntegrityError, cacheKey } from "../src/data/activation_cache.ts";
import { loadModel } from "../src/gpt2/loader.ts";
import { loadBrownCorpus } from "../src/data/corpus.ts";
import { makeWindows } from "../src/data/windows.ts";
import { openSafetensors } from "../src/gpt2/safetensors.ts";
import { tinyCheckpoint, tinySpec, tinySweepArgs } from "./helpers/tiny_model.ts";
import { runCliAsync } from "./helpers/cli.ts";

const root = mkdtempSync(join(tmpdir(), "identity-"));
let weights = "";
const quiet = { threads: 2, quiet: true, log: () => {} };
const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

beforeAll(() => {
  weights = tinyCheckpoint(root);
});

describe("run identity", () => {
  it("a changed hyper-parameter is refused by name, never reported as complete; sweep.json keeps agreeing with its runs", async () => {
    const out = join(root, "O"), cacheDir = join(root, "cache");
    const first = await runSweep(tinySpec("o", weights, { seeds: [1] }), { outDir: out, cacheDir, ...quiet });
    expect(first.trained).toBe(2);
    const sweepJson = readFileSync(join(out, "sweep.json"), "utf8");
    await expect(runSweep(tinySpec("o", weights, { seeds: [1], epochs: 2 }), { outDir: out, cacheDir, ...quiet })).rejects.toThrow(/already holds 2 finished runs made with other settings \(budget\.tokensSeen 1800 → 1200; train\.epochs 3 → 2\); to keep them, give this sweep another --out/);
    await expect(runSweep(tinySpec("o", weights, { seeds: [1], lr: 0.01 }), { outDir: out, cacheDir, ...quiet })).rejects.toThrow(/train\.lr 0\.001 → 0\.01/);
    await expect(runSweep(tinySpec("o", weights, { seeds: [1], includeSpecial: true }), { outDir: out, cacheDir, ...quiet })).rejects.toThrow(/includeSpecial false → true/);
    // Another seed with other settings would mix two experiments in one directory: refused too.
    await expect(runSweep(tinySpec("o", weights, { seeds: [2], epochs: 2 }), { outDir: out, cacheDir, ...quiet })).rejects.toThrow(/train\.epochs 3 → 2/);
    expect(readFileSync(join(out, "sweep.json"), "utf8")).toBe(sweepJson);
    // The same settings extend the sweep; sweep.json lists every run.
    const more = await runSweep(tinySpec("o", weights, { seeds: [1, 2] }), { outDir: out, cacheDir, ...quiet });
    expect([more.trained, more.skipped]).toEqual([2, 2]);
    expect(JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")).runs).toEqual(["L0-n24-k4-topk/seed-1", "L0-n24-k4-topk/seed-2", "L1-n24-k4-topk/seed-1", "L1-n24-k4-topk/seed-2"]);
    // Elsewhere, the changed sweep trains beside the old one.
    const beside = await runSweep(tinySpec("o", weights, { seeds: [1], epochs: 2 }), { outDir: join(root, "O-epochs2"), cacheDir, ...quiet });
    expect(beside.trained).toBe(2);
    const identity = JSON.parse(readFileSync(join(root, "O-epochs2", "L0-n24-k4-topk", "seed-1", "identity.json"), "utf8"));
    expect(identity.identity.train.epochs).toBe(2);
    expect(identity.identity.resultsVersion).toBe(RESULTS_VERSION);
    // Status reads the directories alone and says the same.
    const status = sweepStatus(tinySpec("o", weights, { seeds: [1, 2, 3], epochs: 2 }), out);
    expect(status.filter((s) => s.state === "other-settings").map((s) => s.detail)).toEqual(Array(4).fill("budget.tokensSeen 1800 → 1200; train.epochs 3 → 2"));
    expect(status.filter((s) => s.state === "missing")).toHaveLength(2);
  });

  it("receipts record the cache's content hash; a changed chunk is one clear error", async () => {
    const out = join(root, "C"), cacheDir = join(root, "cache-c");
    const result = await runSweep(tinySpec("c", weights, { seeds: [1], conditions: [{ layer: 1, features: 24, k: 4, recipe: "topk" }] }), { outDir: out, cacheDir, ...quiet });
    const run = join(out, "L1-n24-k4-topk", "seed-1");
    const env = JSON.parse(readFileSync(join(run, "environment.json"), "utf8"));
    expect(env.activationCacheSha256).toBe(result.cache.manifest.contentSha256);
    expect(env.activationsSha256).toBe(result.cache.hookSha256("blocks.1.hook_resid_pre"));
    // Flip one byte of the hook's data in the first chunk.
    const chunk = join(result.cache.dir, result.cache.manifest.chunks[0]!.file);
    const file = openSafetensors(chunk);
    const begin = file.info("blocks.1.hook_resid_pre").begin;
    file.close();
    const bytes = readFileSync(chunk);
    const offset = 8 + Number(bytes.readBigUInt64LE(0)) + begin; // 8-byte header length, header, then the data
    bytes[offset + 100]! ^= 0x40;
    writeFileSync(chunk, bytes);
    expect(() => loadActivationCache(result.cache.dir).rows("blocks.1.hook_resid_pre")).toThrow(CacheIntegrityError);
    await expect(runSweep(tinySpec("c", weights, { seeds: [2], conditions: [{ layer: 1, features: 24, k: 4, recipe: "topk" }] }), { outDir: out, cacheDir, ...quiet }))
      .rejects.toThrow(/activation cache file .*chunk-00000\.safetensors does not match the sha256 in its manifest \(it changed after the cache was built\); delete .* and rerun to rebuild it/);
  });

  it("an interrupted cache build leaves nothing behind, and a killed builder's debris is cleared by the next", async () => {
    const cacheDir = join(root, "cache-d");
    const model = await loadModel({ model: "gpt2", weightsDir: weights });
    const corpus = loadBrownCorpus();
    const windows = makeWindows(corpus.documents.slice(0, 3), { seqLen: 32, maxTokens: 200 });
    const request = {
      model, corpus: { name: corpus.name, sha256: corpus.sha256, documents: 3, documentIds: ["a", "b", "c"] }, windows,
      windowing: { mode: "standard", seqLen: 32, maxTokens: 200 }, hooks: ["blocks.1.hook_resid_pre"], residual: "centered" as const, batchWindows: 2,
    };
    const key = cacheKey(request);
    mkdirSync(cacheDir, { recursive: true });
    mkdirSync(join(cacheDir, `${key}.tmp-999999`)); // a builder killed mid-way (no such process)
    writeFileSync(join(cacheDir, `${key}.tmp-999999`, "chunk-00000.safetensors"), "half");
    expect(() => buildActivationCache(cacheDir, { ...request, onProgress: (done) => {
      if (done > 64) throw new Error("disk full");
    } })).toThrow(/disk full/);
    expect(readdirSync(cacheDir)).toEqual([]);
    const cache = buildActivationCache(cacheDir, request);
    expect(readdirSync(cacheDir)).toEqual([key]);
    expect(cache.rows("blocks.1.hook_resid_pre").rows).toBe(windows.nWindows * 32);
  });

  it("two identical sweeps started at once train every run once and build the cache once", async () => {
    const out = join(root, "twins"), cacheDir = join(root, "cache-twins");
    const [a, b] = await Promise.all([0, 1].map(() => runCliAsync([...tinySweepArgs(weights, out, cacheDir), "--processes", "1", "--threads", "1"])));
    for (const r of [a!, b!]) expect(r.status, r.stderr).toBe(0);
    const counts = [a!, b!].map((r) => /runs: (\d+) trained, (\d+) already complete .*?(?:, (\d+) trained by other processes meanwhile)?$/m.exec(r.stderr)!.slice(1).map((x) => Number(x ?? 0)));
    expect(counts[0]![0]! + counts[1]![0]!).toBe(4); // every run trained by exactly one of them
    for (const [trained, skipped, elsewhere] of counts) expect(trained! + skipped! + elsewhere!).toBe(4); // and each saw all four complete
    expect(readdirSync(cacheDir)).toHaveLength(1);
    for (const s of sweepStatus(tinySpec("t", weights), out)) expect(s.state).toBe("complete");
    for (const c of ["L0-n24-k4-topk", "L1-n24-k4-topk"]) for (const seed of [1, 2]) expect(existsSync(join(out, c, `seed-${seed}`, "claim.json"))).toBe(false);
  });

  // The bytes a small run produces are pinned to RESULTS_VERSION: a change that alters them must bump the version
  // (so old runs are not reused as if they were new), and update this hash.
  it(`the result of a small run is pinned to RESULTS_VERSION ${RESULTS_VERSION}`, async () => {
    const out = join(root, "pinned");
    await runSweep(tinySpec("p", weights, { seeds: [7], conditions: [{ layer: 1, features: 24, k: 4, recipe: "topk" }] }), { outDir: out, cacheDir: join(root, "cache"), ...quiet });
    const weightsHash = sha(join(out, "L1-n24-k4-topk", "seed-7", "sae", "sae_weights.safetensors"));
    expect({ version: RESULTS_VERSION, weights: weightsHash }).toEqual({ version: 5, weights: "f063ffb050bcc91cdc7856d33a0078b47283938a90042d15b122a2b0a3c31d6f" });
  });
});
