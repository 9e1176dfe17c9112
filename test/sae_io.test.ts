import { describe, it, expect } from "vitest";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../src/tensor/rng.ts";
import { allocateParams, encode, decode, type SAE } from "../src/sae/sae.ts";
import { saveSAELens, saveSeedPlatform, loadSAE } from "../src/sae/io.ts";
import { fileCheckpointStore } from "../src/sae/checkpoint.ts";
import { defaultTrainConfig } from "../src/sae/config.ts";
import { trainSAE } from "../src/sae/trainer.ts";
import { arrayRows } from "../src/data/rows.ts";
import { openSafetensors } from "../src/gpt2/safetensors.ts";

function randomSAE(recipe: "topk" | "seed-report", inputScale = 1): SAE {
  const rng = Rng.stream(3, "io-test");
  const p = allocateParams(6, 10);
  for (const a of [p.wEnc, p.bEnc, p.wDec, p.bDec]) rng.fillNormal(a);
  return { recipe, k: 3, params: p, inputScale };
}

describe("SAE files", () => {
  it("SAELens layout: W_enc [d_in, d_sae], cfg.json, and an exact round trip", () => {
    const dir = mkdtempSync(join(tmpdir(), "sae-"));
    const sae = randomSAE("topk");
    saveSAELens(dir, sae, { hookName: "blocks.6.hook_resid_pre", modelName: "gpt2" });
    const f = openSafetensors(join(dir, "sae_weights.safetensors"));
    expect(f.info("W_enc").shape).toEqual([6, 10]);
    expect(f.info("W_dec").shape).toEqual([10, 6]);
    f.close();
    const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8"));
    expect(cfg).toMatchObject({ architecture: "topk", d_in: 6, d_sae: 10, k: 3, hook_name: "blocks.6.hook_resid_pre", hook_layer: 6, model_name: "gpt2", normalize_activations: "none", dtype: "float32" });
    const back = loadSAE(dir);
    expect(back.format).toBe("saelens");
    expect(back.sae.recipe).toBe("topk");
    for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) expect(Array.from(back.sae.params[key])).toEqual(Array.from(sae.params[key]));
  });

  it("folding the input scale into the weights keeps the SAE's function on raw activations", () => {
    const dir = mkdtempSync(join(tmpdir(), "sae-"));
    const sae = randomSAE("topk", 2.5);
    saveSAELens(dir, sae, { hookName: "h", modelName: "m" });
    const back = loadSAE(dir).sae;
    const x = Rng.stream(4, "x").fillNormal(new Float32Array(5 * 6)) as Float32Array;
    const a = encode(sae, x, 5), b = encode(back, x, 5);
    expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
    a.values.forEach((v, i) => expect(b.values[i]).toBeCloseTo(v, 4));
    const ra = decode(sae, a), rb = decode(back, b);
    ra.forEach((v, i) => expect(rb[i]! * 2.5).toBeCloseTo(v, 3)); // raw-space reconstruction × scale = scaled-space one
  });

  it("the seed platform's nn.Linear layout round-trips, and k can come from a flag", () => {
    const dir = mkdtempSync(join(tmpdir(), "sae-"));
    const sae = randomSAE("seed-report");
    saveSeedPlatform(dir, sae);
    const back = loadSAE(dir);
    expect(back.format).toBe("seed-platform");
    expect(back.sae.recipe).toBe("seed-report");
    for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) expect(Array.from(back.sae.params[key])).toEqual(Array.from(sae.params[key]));
    expect(() => loadSAE(mkdtempSync(join(tmpdir(), "empty-")))).toThrow(/no SAE files found/);
  });

  it("a file checkpoint resumes to the same weights as an uninterrupted run", () => {
    const x = Rng.stream(5, "data").fillNormal(new Float32Array(300 * 6)) as Float32Array;
    const cfg = defaultTrainConfig("topk", { dIn: 6, dSae: 10, k: 3, seed: 1 }, { epochs: 4, batchSize: 32, deadAfterTokens: 100, kAux: 3, checkpointEvery: 4 });
    const straight = trainSAE({ config: cfg, data: arrayRows(x, 6) }).sae;
    const path = join(mkdtempSync(join(tmpdir(), "ckpt-")), "state.safetensors");
    const store = fileCheckpointStore(path);
    let r = trainSAE({ config: cfg, data: arrayRows(x, 6), checkpoints: store, stopAfterSteps: 7 });
    expect(existsSync(path)).toBe(true);
    while (!r.finished) r = trainSAE({ config: cfg, data: arrayRows(x, 6), checkpoints: store, stopAfterSteps: 9 });
    for (const key of ["wEnc", "bEnc", "wDec", "bDec"] as const) expect(Array.from(r.sae.params[key])).toEqual(Array.from(straight.params[key]));
  });
});
