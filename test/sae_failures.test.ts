/**
 * Failures that must be loud: training that diverges stops with one line and keeps the last good checkpoint
 * (issue 10, bullet 4); SAE files whose cfg.json disagrees with their tensors are refused naming the field
 * (bullet 5); an SAE is never read as another architecture (issue 14).
 */
import { describe, it, expect } from "vitest";
import { Rng } from "../src/tensor/rng.ts";
import { defaultTrainConfig } from "../src/sae/config.ts";
import { trainSAE, memoryCheckpointStore, DivergenceError } from "../src/sae/trainer.ts";
import { arrayRows } from "../src/data/rows.ts";

const rows = Rng.stream(4, "diverge").fillNormal(new Float32Array(2048 * 8)) as Float32Array;

describe("divergence is a failure", () => {
  it("a run whose FVU blows up (lr 1e3) stops with a DivergenceError naming the step and the bound, and the checkpoint on disk is the last good one", () => {
    const store = memoryCheckpointStore();
    const cfg = defaultTrainConfig("topk", { dIn: 8, dSae: 32, k: 4, seed: 1 }, { lr: 1e3, epochs: 20, batchSize: 256, checkpointEvery: 1 });
    let error: unknown;
    let finished = true;
    try {
      finished = trainSAE({ config: cfg, data: arrayRows(rows, 8), checkpoints: store }).finished;
    } catch (e) {
      error = e;
    }
    expect(error, `training finished (${finished}) instead of failing`).toBeInstanceOf(DivergenceError);
    expect(String(error)).toMatch(/diverged at step \d+ .*(times (the training data's variance|the first step's error) \(over 1e\+6\)|has stayed above 1000 times the training data's variance)/);
    expect(String(error).split("\n")).toHaveLength(1);
    const last = store.load();
    expect(last).not.toBeNull();
    // The checkpoint kept is from a step whose FVU was within bounds, and its weights are finite.
    for (const v of last!.params.wEnc) expect(Number.isFinite(v)).toBe(true);
    expect(last!.badSteps).toBe(0);
  });

  it("a run whose error grows past 1000× its yardstick and stays there for 50 steps stops too, without writing a checkpoint from that stretch", () => {
    // The rows the SAE sees become 100× larger after step 10 (data drift, simulated through onProgress): the error
    // jumps to thousands of times the data's variance and stays — not a numeric blow-up, but not a run to keep.
    let scale = 1;
    const base = arrayRows(rows, 8);
    const data = { rows: base.rows, dIn: 8, copyRow: (i: number, target: Float32Array, offset: number) => {
      base.copyRow(i, target, offset);
      if (scale !== 1) for (let c = 0; c < 8; c++) target[offset + c] *= scale;
    } };
    const store = memoryCheckpointStore();
    const cfg = defaultTrainConfig("topk", { dIn: 8, dSae: 32, k: 4, seed: 1 }, { epochs: 3, batchSize: 32, checkpointEvery: 5 });
    expect(() => trainSAE({ config: cfg, data, checkpoints: store, onProgress: (p) => { if (p.tokensSeen >= 10 * 32) scale = 100; } }))
      .toThrow(/diverged at step 60 .*has stayed above 1000 times the training data's variance for 50 steps/);
    expect(store.saves).toBe(2); // steps 5 and 10, before the drift; none from the bad stretch
  });

  // Found by the fuzzer (npm run fuzz): two rows of one coordinate have almost no variance, so their batch FVU is huge
  // although the error is ordinary. Divergence is judged against the training data's variance, so this trains.
  it("a partial batch with almost no variance of its own, or a fresh SAE with k ≫ d_in, is not a divergence", () => {
    const x = Float32Array.from([1.0, 1.0001, 2.3, 0.7, 1.9]);
    const cfg = defaultTrainConfig("topk", { dIn: 1, dSae: 30, k: 16, seed: 13 }, { epochs: 2, batchSize: 2, deadAfterTokens: 1 });
    expect(trainSAE({ config: cfg, data: arrayRows(x, 1) }).finished).toBe(true);
    // 15 active latents for one input dimension: the first steps' error is hundreds of times the data's variance.
    const wide = defaultTrainConfig("topk", { dIn: 1, dSae: 36, k: 15, seed: 7 }, { epochs: 1, batchSize: 1, deadAfterTokens: 1, kAux: 0 });
    expect(trainSAE({ config: wide, data: arrayRows(x, 1) }).finished).toBe(true);
  });
});
