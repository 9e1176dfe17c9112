/**
 * Training every architecture through the shared trainer: it learns, penalty recipes reach their target L0
 * (matched sparsity) and record the coefficient, runs are bit-identical for a seed at 1 and 2 matmul threads,
 * and stopping/resuming (memory and file checkpoints, with extra parameters, buffers and the controller) gives
 * the same weights as one run.
 */
import { describe, it, expect, afterAll } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setThreads, getThreads, workerThreadCount } from "../src/tensor/wasm/index.ts";
import { defaultTrainConfig, RECIPES, type Recipe } from "../src/sae/config.ts";
import { trainSAE, memoryCheckpointStore } from "../src/sae/trainer.ts";
import { fileCheckpointStore } from "../src/sae/checkpoint.ts";
import { namedTensors } from "../src/sae/params.ts";
import { encode, decode, type SAE } from "../src/sae/sae.ts";
import { arrayRows } from "../src/data/rows.ts";
import { sparseDictionaryRows } from "./helpers/synthetic.ts";

/** Zipf-like atom frequencies plus a little noise. */
const syntheticData = (rows: number, dIn: number, atoms: number, active: number, seed: number) =>
  sparseDictionaryRows(rows, dIn, atoms, active, seed, { stream: "arch-train", skewed: true, noise: 0.05 });

function hashSAE(sae: SAE): string {
  const h = createHash("sha256");
  for (const [name, a] of namedTensors(sae.params)) h.update(name).update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.update(String(sae.inputScale)).digest("hex");
}

const NEW: Recipe[] = ["relu-l1", "jumprelu", "batchtopk", "matryoshka-batchtopk", "gated"];
const D = 16, N = 64, K = 4;
const data = syntheticData(4096, D, 48, 3, 1);

function config(recipe: Recipe, seed: number, extra = {}) {
  return defaultTrainConfig(recipe, { dIn: D, dSae: N, k: K, seed }, { epochs: 8, batchSize: 256, lr: 2e-3, deadAfterTokens: 2048, ...extra });
}

describe("training every architecture", () => {
  const threadsBefore = getThreads();
  afterAll(() => setThreads(threadsBefore));

  it.each(NEW)("%s: learns, and a penalty recipe ends near its target L0 with λ recorded", (recipe) => {
    const result = trainSAE({ config: config(recipe, 1), data: arrayRows(data, D) });
    const first = result.history[0]!, last = result.history.at(-1)!;
    expect(last.fvu).toBeLessThan(first.fvu);
    expect(last.fvu).toBeLessThan(0.5);
    if (recipe === "relu-l1" || recipe === "jumprelu" || recipe === "gated") {
      expect(last.targetL0).toBe(K);
      expect(last.sparsityCoefficient).toBeGreaterThan(0);
      expect(last.l0).toBeGreaterThan(0.6 * K);
      expect(last.l0).toBeLessThan(1.5 * K);
    } else {
      expect(last.l0).toBeCloseTo(K, 6); // BatchTopK keeps k per row on average, exactly
      expect(last.sparsityCoefficient).toBeUndefined();
    }
    // Inference reproduces the training objective's reconstruction quality.
    const code = encode(result.sae, data, 4096);
    const xhat = decode(result.sae, code);
    let err = 0, tot = 0, mean = 0;
    const s = result.sae.inputScale;
    for (let i = 0; i < data.length; i++) mean += data[i]! * s / data.length;
    for (let i = 0; i < data.length; i++) { err += (xhat[i]! - data[i]! * s) ** 2; tot += (data[i]! * s - mean) ** 2; }
    expect(err / tot).toBeLessThan(0.6);
  });

  it("every recipe is bit-identical for the same seed at 1 and 2 matmul threads, and differs for another seed", () => {
    // Big enough that the encoder product (512·256·32·2 = 8.4 MFLOP) is split between threads.
    const wide = syntheticData(1024, 32, 96, 4, 2);
    const cfgFor = (recipe: Recipe, seed: number) => defaultTrainConfig(recipe, { dIn: 32, dSae: 256, k: 8, seed }, { epochs: 2, batchSize: 512, lr: 2e-3, deadAfterTokens: 512 });
    for (const recipe of RECIPES) {
      const hashes = [1, 2].map((threads) => {
        setThreads(threads);
        return hashSAE(trainSAE({ config: cfgFor(recipe, 7), data: arrayRows(wide, 32) }).sae);
      });
      expect(hashes[1], recipe).toBe(hashes[0]);
      expect(workerThreadCount(), "the 2-thread run used a worker thread").toBeGreaterThan(0);
      expect(hashSAE(trainSAE({ config: cfgFor(recipe, 8), data: arrayRows(wide, 32) }).sae), recipe).not.toBe(hashes[0]);
    }
  });

  it.each(NEW)("%s: stopping and resuming from checkpoints gives the same weights as one run", (recipe) => {
    const cfg = config(recipe, 9, { epochs: 3, checkpointEvery: 5 });
    const straight = trainSAE({ config: cfg, data: arrayRows(data, D) });
    const store = recipe === "jumprelu" || recipe === "batchtopk" ? fileCheckpointStore(join(mkdtempSync(join(tmpdir(), "ckpt-")), "state.safetensors")) : memoryCheckpointStore();
    let result = trainSAE({ config: cfg, data: arrayRows(data, D), checkpoints: store, stopAfterSteps: 7 });
    while (!result.finished) result = trainSAE({ config: cfg, data: arrayRows(data, D), checkpoints: store, stopAfterSteps: 11 });
    expect(hashSAE(result.sae)).toBe(hashSAE(straight.sae));
    expect(result.history).toEqual(straight.history.map((h) => ({ ...h, tokensPerSecond: expect.any(Number) })));
  });
});
