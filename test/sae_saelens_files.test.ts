/**
 * SAELens files, both ways. Reading: directories laid out as SAELens 6.18, 6.0, 5.x and the jbloom-era runner
 * configs write them (tools/reference/sae_saelens_files.py) encode here as SAELens encodes them — each
 * architecture with its own math, normalisations and decoder-norm rescaling honoured. Writing: every recipe's
 * file carries the right architecture, parameter names and the fields SAELens 6 and 5 need, and reads back to
 * the same encoding. And the refusals: one line naming the field or tensor that is wrong.
 */
import { describe, it, expect } from "vitest";
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSafetensors, writeSafetensors } from "../src/gpt2/safetensors.ts";
import { Rng } from "../src/tensor/rng.ts";
import { loadSAE, loadDecoder, saveSAELens, SAE_CONFIG_FILE, SAE_WEIGHTS_FILE } from "../src/sae/io.ts";
import { encode, reconstruct, initialiseParams, type SAE } from "../src/sae/sae.ts";
import { defaultTrainConfig, RECIPES, type Recipe } from "../src/sae/config.ts";
import { trainSAE } from "../src/sae/trainer.ts";
import { arrayRows } from "../src/data/rows.ts";

const FIX = join(import.meta.dirname, "fixtures", "saelens_files");

function dense(sae: SAE, x: Float32Array, rows: number): Float32Array {
  const code = encode(sae, x, rows);
  const n = sae.params.dSae;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) for (let s = 0; s < code.k; s++) if (code.values[r * code.k + s] !== 0) out[r * n + code.indices[r * code.k + s]!] = code.values[r * code.k + s]!;
  return out;
}

/** Same active latents, values within 2e-6 (relative to 1 or the value). */
function expectSameEncoding(actual: Float32Array, expected: Float32Array, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    expect(actual[i] !== 0, `${what}: latent ${i} active here ${actual[i]} vs SAELens ${expected[i]}`).toBe(expected[i] !== 0);
    expect(Math.abs(actual[i]! - expected[i]!), `${what}[${i}]`).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(expected[i]!)));
  }
}

const EXPECT_RECIPE: Record<string, Recipe> = {
  v6_topk_no_bdec: "topk", v6_topk_training: "topk", v6_standard_layer_norm: "relu-l1", v6_jumprelu: "jumprelu", v6_gated: "gated",
  v6_batchtopk_training: "batchtopk", v6_0_topk: "topk", pre6_topk_as_standard: "topk", pre6_jumprelu: "jumprelu", pre6_standard_jb: "relu-l1",
};

function copyCase(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `saelens-${name}-`));
  cpSync(join(FIX, name), dir, { recursive: true });
  return dir;
}

function editCfg(dir: string, edit: (cfg: Record<string, unknown>) => void): string {
  const cfg = JSON.parse(readFileSync(join(dir, SAE_CONFIG_FILE), "utf8"));
  edit(cfg);
  writeFileSync(join(dir, SAE_CONFIG_FILE), JSON.stringify(cfg));
  return dir;
}

describe("reading SAELens files", () => {
  it.each(readdirSync(FIX).sort())("%s: encodes and reconstructs as SAELens does", (name) => {
    const loaded = loadSAE(join(FIX, name));
    expect(loaded.sae.recipe).toBe(EXPECT_RECIPE[name]);
    const f = openSafetensors(join(FIX, name, "expected.safetensors"));
    const x = f.readFloat32("x"), rows = f.info("x").shape[0]!;
    expectSameEncoding(dense(loaded.sae, x, rows), f.readFloat32("feature_acts"), name);
    const out = reconstruct(loaded.sae, x, rows), want = f.readFloat32("sae_out");
    for (let i = 0; i < want.length; i++) expect(Math.abs(out[i]! - want[i]!), `${name} sae_out[${i}]`).toBeLessThanOrEqual(2e-5 * Math.max(1, Math.abs(want[i]!)));
    f.close();
  });

  it("reads the hook and model from 6.x metadata, 5.x fields and old runner configs", () => {
    expect(loadSAE(join(FIX, "v6_jumprelu"))).toMatchObject({ hookName: "blocks.3.hook_resid_pre", modelName: "gpt2", architecture: "jumprelu" });
    expect(loadSAE(join(FIX, "v6_0_topk"))).toMatchObject({ hookName: "blocks.1.hook_resid_post" });
    expect(loadSAE(join(FIX, "pre6_jumprelu"))).toMatchObject({ hookName: "blocks.5.hook_resid_post", modelName: "gpt2" });
    expect(loadSAE(join(FIX, "pre6_standard_jb"))).toMatchObject({ hookName: "blocks.2.hook_resid_pre", modelName: "gpt2-small", architecture: "standard" });
  });

  it("a standard (ReLU) SAE needs no k, --k is refused for it, and decoder-only loading needs no k for TopK", () => {
    const jb = join(FIX, "pre6_standard_jb");
    expect(loadSAE(jb).sae.k).toBe(0);
    expect(() => loadSAE(jb, 32)).toThrow(/--k applies to TopK SAEs only, and this is a standard SAE; drop --k/);
    const noK = editCfg(copyCase("v6_0_topk"), (c) => { delete c.k; });
    expect(() => loadSAE(noK)).toThrow(/give no k; pass --k/);
    const decoder = loadDecoder(noK);
    expect(decoder.sae.params.wDec.length).toBe(24 * 12);
    expect(() => encode(decoder.sae, new Float32Array(12), 1)).toThrow(/without k/);
    expect(loadSAE(noK, 4).sae.k).toBe(4);
    expect(() => loadSAE(join(FIX, "v6_0_topk"), 5)).toThrow(/cfg.json says k = 4 but --k 5 was given/);
  });
});

describe("cfg.json is checked against the tensors, naming the field", () => {
  const cases: [string, string, (c: Record<string, unknown>) => void, RegExp][] = [
    ["d_in", "v6_jumprelu", (c) => { c.d_in = 13; }, /field "d_in" is 13 but W_enc holds d_in = 12/],
    ["d_sae", "pre6_jumprelu", (c) => { c.d_sae = 48; }, /field "d_sae" is 48 but W_enc holds d_sae = 24/],
    ["k > d_sae", "v6_0_topk", (c) => { c.k = 25; }, /field "k" is 25, outside 1\.\.d_sae \(24\)/],
    ["k type", "v6_0_topk", (c) => { c.k = 2.5; }, /field "k" must be an integer for a TopK SAE, got 2\.5/],
    ["boolean type", "v6_jumprelu", (c) => { c.apply_b_dec_to_input = "yes"; }, /field "apply_b_dec_to_input" must be true or false, got "yes"/],
    ["architecture", "v6_jumprelu", (c) => { c.architecture = "jumprelu_transcoder"; }, /field "architecture" is "jumprelu_transcoder", which sae-seeds does not read/],
    ["normalisation", "v6_jumprelu", (c) => { c.normalize_activations = "whiten"; }, /field "normalize_activations" is "whiten", which sae-seeds does not support/],
    ["dtype", "v6_jumprelu", (c) => { c.dtype = "int8"; }, /field "dtype" is "int8"/],
    ["rescale on jumprelu", "v6_jumprelu", (c) => { c.rescale_acts_by_decoder_norm = true; }, /rescale_acts_by_decoder_norm" is true, which SAELens defines only for TopK/],
    ["pre-6 activation", "pre6_jumprelu", (c) => { c.activation_fn_str = "tanh-relu"; }, /field "activation_fn_str" is "tanh-relu"; sae-seeds reads jumprelu SAEs with a ReLU only/],
    ["recipe vs architecture", "v6_jumprelu", (c) => { c.sae_seeds = { recipe: "topk" }; }, /field "architecture" is "jumprelu" but sae_seeds.recipe topk is written as "topk"/],
  ];
  it.each(cases)("%s", (_what, name, edit, message) => {
    const dir = editCfg(copyCase(name), edit);
    expect(() => loadSAE(dir)).toThrow(message);
  });

  it("a missing scaling factor, a missing tensor, a misshapen tensor and integer weights are refused", () => {
    const noScaler = copyCase("v6_batchtopk_training");
    writeFileSync(join(noScaler, "activation_scaler.json"), "{}");
    expect(() => loadSAE(noScaler)).toThrow(/expected_average_only_in but no scaling factor was found/);
    const rewrite = (name: string, change: (t: Record<string, { dtype: "F32" | "I32"; shape: number[]; data: Float32Array | Int32Array }>) => void) => {
      const dir = copyCase(name);
      const f = openSafetensors(join(dir, SAE_WEIGHTS_FILE));
      const t: Record<string, { dtype: "F32" | "I32"; shape: number[]; data: Float32Array | Int32Array }> = {};
      for (const n of f.names()) t[n] = { dtype: "F32", shape: f.info(n).shape, data: f.readFloat32(n) };
      f.close();
      change(t);
      writeSafetensors(join(dir, SAE_WEIGHTS_FILE), t);
      return dir;
    };
    expect(() => loadSAE(rewrite("v6_jumprelu", (t) => { delete t.threshold; }))).toThrow(/no tensor "threshold", which a jumprelu SAE needs/);
    expect(() => loadSAE(rewrite("v6_gated", (t) => { t.b_mag = { dtype: "F32", shape: [23], data: new Float32Array(23) }; }))).toThrow(/b_mag has shape \[23\], expected \[24\]/);
    expect(() => loadSAE(rewrite("v6_jumprelu", (t) => { t.W_dec = { dtype: "I32", shape: [24, 12], data: new Int32Array(288) }; }))).toThrow(/W_dec has dtype I32; SAE weights must be floating point/);
  });
});

describe("writing SAELens files", () => {
  const rows = 200, d = 12, n = 24;
  const x = Rng.stream(6, "write").fillNormal(new Float32Array(rows * d)) as Float32Array;

  it.each(RECIPES)("%s: architecture, parameter names and cfg fields; reads back to the same encoding", (recipe) => {
    const cfg = defaultTrainConfig(recipe, { dIn: d, dSae: n, k: 3, seed: 4 }, { epochs: 1, batchSize: 50 });
    const sae = trainSAE({ config: cfg, data: arrayRows(x, d) }).sae;
    const dir = mkdtempSync(join(tmpdir(), `write-${recipe}-`));
    saveSAELens(dir, sae, { hookName: "blocks.6.hook_resid_pre", modelName: "gpt2", modelLabel: "GPT-2 small (random control)", contextSize: 64, datasetPath: "brown", extra: { seed: 4 } });
    const cfgJson = JSON.parse(readFileSync(join(dir, SAE_CONFIG_FILE), "utf8"));
    const arch = { "topk": "topk", "seed-report": "topk_no_relu", "relu-l1": "standard", "jumprelu": "jumprelu", "batchtopk": "jumprelu", "matryoshka-batchtopk": "jumprelu", "gated": "gated" }[recipe];
    expect(cfgJson.architecture).toBe(arch);
    // SAELens 6: metadata with a version that selects its 6.x reading; 5: the top-level fields its SAEConfig requires.
    expect(cfgJson.metadata).toMatchObject({ sae_lens_version: "6.0.0", model_name: "gpt2", hook_name: "blocks.6.hook_resid_pre", context_size: 64, dataset_path: "brown", hook_head_index: null, prepend_bos: true });
    for (const field of ["d_in", "d_sae", "dtype", "device", "apply_b_dec_to_input", "normalize_activations", "reshape_activations", "activation_fn_str", "finetuning_scaling_factor", "context_size", "model_name", "hook_name", "hook_layer", "hook_head_index", "prepend_bos", "dataset_path", "dataset_trust_remote_code", "sae_lens_training_version"]) {
      expect(cfgJson, field).toHaveProperty(field);
    }
    expect(cfgJson).toMatchObject({ model_name: "gpt2", hook_layer: 6, normalize_activations: "none", sae_seeds: { recipe, model_label: "GPT-2 small (random control)", seed: 4 } });
    const tensors = openSafetensors(join(dir, SAE_WEIGHTS_FILE));
    const names = tensors.names().sort();
    tensors.close();
    const expected = { "gated": ["W_dec", "W_enc", "b_dec", "b_gate", "b_mag", "r_mag"], "jumprelu": ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"] }[recipe === "gated" ? "gated" : arch === "jumprelu" ? "jumprelu" : "other" as never] ?? ["W_dec", "W_enc", "b_dec", "b_enc"];
    expect(names).toEqual(expected);
    if (recipe === "topk") expect(cfgJson).toMatchObject({ k: 3, rescale_acts_by_decoder_norm: false, activation_fn_str: "topk", activation_fn_kwargs: { k: 3 } });
    if (recipe === "seed-report") expect(["topk", "relu"]).not.toContain(cfgJson.activation_fn_str);

    const back = loadSAE(dir).sae;
    expect(back.recipe).toBe(recipe);
    expect(back.inputScale).toBe(1);
    expectSameEncoding(dense(back, x.subarray(0, 40 * d), 40), dense(sae, x.subarray(0, 40 * d), 40), recipe);
    // Written again, the files are identical: nothing is lost or re-derived on a round trip.
    const again = mkdtempSync(join(tmpdir(), `write2-${recipe}-`));
    saveSAELens(again, back, { hookName: "blocks.6.hook_resid_pre", modelName: "gpt2", modelLabel: "GPT-2 small (random control)", contextSize: 64, datasetPath: "brown", extra: { seed: 4 } });
    expect(readFileSync(join(again, SAE_WEIGHTS_FILE))).toEqual(readFileSync(join(dir, SAE_WEIGHTS_FILE)));
  });

  it("a loaded SAELens file with its own normalisation writes back with it", () => {
    for (const name of ["v6_topk_training", "v6_standard_layer_norm", "v6_gated"]) {
      const a = loadSAE(join(FIX, name)).sae;
      const dir = mkdtempSync(join(tmpdir(), "rewrite-"));
      saveSAELens(dir, a, { hookName: "h", modelName: "gpt2" });
      const b = loadSAE(dir).sae;
      const f = openSafetensors(join(FIX, name, "expected.safetensors"));
      expectSameEncoding(dense(b, f.readFloat32("x"), 6), f.readFloat32("feature_acts"), name);
      f.close();
    }
  });

  it("initial parameters of every recipe encode (no architecture needs training first)", () => {
    for (const recipe of RECIPES) {
      const cfg = defaultTrainConfig(recipe, { dIn: d, dSae: n, k: 3, seed: 1 });
      const sae = { recipe, k: 3, params: initialiseParams(cfg, x, rows), inputScale: 1 };
      expect(encode(sae, x.subarray(0, 5 * d), 5).rows, recipe).toBe(5);
    }
  });
});
