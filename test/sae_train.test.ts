import { describe, it, expect } from "vitest";
import { createHash } from "node:crypto";
import { defaultTrainConfig, type Recipe } from "../src/sae/config.ts";
import { trainSAE, memoryCheckpointStore, DivergenceError } from "../src/sae/trainer.ts";
import { arrayRows } from "../src/data/rows.ts";
import { encode, decode, type SAE } from "../src/sae/sae.ts";
import { analyseFeatures } from "../src/sae/analysis.ts";
import { sparseDictionaryRows } from "./helpers/synthetic.ts";

const syntheticData = (rows: number, dIn: number, atoms: number, active: number, seed: number) => sparseDictionaryRows(rows, dIn, atoms, active, seed);

function hashSAE(sae: SAE): string {
  const h = createHash("sha256");
  for (const a of [sae.params.wEnc, sae.params.bEnc, sae.params.wDec, sae.params.bDec]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  h.update(String(sae.inputScale));
  return h.digest("hex");
}

const data = syntheticData(600, 8, 12, 2, 1);

function config(recipe: Recipe, seed: number, extra = {}) {
  return defaultTrainConfig(recipe, { dIn: 8, dSae: 16, k: 2, seed }, { epochs: 6, batchSize: recipe === "topk" ? 64 : 32, lr: 3e-3, kAux: 4, deadAfterTokens: 300, ...extra });
}

describe("SAE training", () => {
  it.each(["topk", "seed-report"] as const)("%s: learns (FVU falls well below 1) and keeps decoder rows unit-norm for topk", (recipe) => {
    const result = trainSAE({ config: config(recipe, 1), data: arrayRows(data, 8) });
    const first = result.history[0]!, last = result.history.at(-1)!;
    expect(result.history).toHaveLength(6);
    expect(last.fvu).toBeLessThan(first.fvu);
    expect(last.fvu).toBeLessThan(0.35);
    expect(last.l0).toBeLessThanOrEqual(2);
    if (recipe === "topk") {
      const { wDec, dIn, dSae } = result.sae.params;
      for (let j = 0; j < dSae; j++) {
        let s = 0;
        for (let c = 0; c < dIn; c++) s += wDec[j * dIn + c]! ** 2;
        expect(Math.abs(Math.sqrt(s) - 1)).toBeLessThan(1e-5);
      }
    }
    // encode/decode reproduce the training objective's reconstruction quality on the data.
    const code = encode(result.sae, data, 600);
    const xhat = decode(result.sae, code);
    let err = 0, tot = 0;
    const scale = result.sae.inputScale;
    for (let i = 0; i < data.length; i++) { err += (xhat[i]! - data[i]! * scale) ** 2; tot += (data[i]! * scale) ** 2; }
    expect(err / tot).toBeLessThan(0.5);
  });

  it("is bit-identical for the same seed and different for another seed", () => {
    const a = hashSAE(trainSAE({ config: config("topk", 5), data: arrayRows(data, 8) }).sae);
    const b = hashSAE(trainSAE({ config: config("topk", 5), data: arrayRows(data, 8) }).sae);
    const c = hashSAE(trainSAE({ config: config("topk", 6), data: arrayRows(data, 8) }).sae);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it.each(["topk", "seed-report"] as const)("%s: stopping and resuming from checkpoints gives the same final weights as one uninterrupted run", (recipe) => {
    const cfg = config(recipe, 9, { checkpointEvery: 5 });
    const straight = trainSAE({ config: cfg, data: arrayRows(data, 8) });
    const store = memoryCheckpointStore();
    let result = trainSAE({ config: cfg, data: arrayRows(data, 8), checkpoints: store, stopAfterSteps: 13 });
    expect(result.finished).toBe(false);
    let calls = 1;
    while (!result.finished) {
      result = trainSAE({ config: cfg, data: arrayRows(data, 8), checkpoints: store, stopAfterSteps: 17 });
      calls++;
    }
    expect(calls).toBeGreaterThan(2);
    expect(hashSAE(result.sae)).toBe(hashSAE(straight.sae));
    expect(result.history.map((h) => h.fvu)).toEqual(straight.history.map((h) => h.fvu));
  });

  it("refuses a checkpoint made with different settings", () => {
    const store = memoryCheckpointStore();
    trainSAE({ config: config("topk", 1), data: arrayRows(data, 8), checkpoints: store, stopAfterSteps: 3 });
    expect(() => trainSAE({ config: config("topk", 2), data: arrayRows(data, 8), checkpoints: store })).toThrow(/different configuration/);
  });

  it("stops with a clear error naming the step when training diverges, leaving the last good checkpoint", () => {
    const store = memoryCheckpointStore();
    const cfg = config("seed-report", 3, { lr: 1e38, checkpointEvery: 1, epochs: 50 });
    let error: unknown;
    try {
      trainSAE({ config: cfg, data: arrayRows(data, 8), checkpoints: store });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DivergenceError);
    expect(String(error)).toMatch(/diverged (at step \d+|in epoch \d+)/);
    const last = store.load()!;
    expect(last).not.toBeNull();
    for (const v of last.params.wEnc) expect(Number.isFinite(v)).toBe(true);
  });

  it("rejects NaN in the training data with the row named", () => {
    const bad = data.slice();
    bad[8 * 17 + 3] = NaN;
    expect(() => trainSAE({ config: config("topk", 1), data: arrayRows(bad, 8) })).toThrow(/training row 17 contains NaN/);
  });

  it("feature analysis counts firing, marks dead latents and ranks top activations", () => {
    const { sae } = trainSAE({ config: config("topk", 1), data: arrayRows(data, 8) });
    const analysis = analyseFeatures(sae, arrayRows(data, 8), { topN: 3, describe: (row) => ({ documentId: `doc${row}`, position: row % 7, text: `row ${row}` }) });
    const code = encode(sae, data, 600);
    const counts = new Array(16).fill(0);
    code.values.forEach((v, i) => { if (v > 0) counts[code.indices[i]!]++; });
    expect(analysis.features.map((f) => f.fireCount)).toEqual(counts);
    for (const f of analysis.features) {
      expect(f.dead).toBe(f.fireCount === 0);
      const acts = f.topActivations.map((t) => t.activation);
      expect(acts).toEqual([...acts].sort((a, b) => b - a));
      if (!f.dead) expect(acts[0]).toBe(f.maxActivation);
      for (const t of f.topActivations) expect(t.context?.documentId).toBe(`doc${t.row}`);
    }
    expect(analysis.deadCount).toBe(counts.filter((c) => c === 0).length);
  });
});
