/**
 * SAEs written by other libraries (tools/reference/sae_other_libraries.py lays files out as sparsify 9d3b136 and
 * dictionary_learning 60ec6bf save them, and computes each library's own forward): every class and layout reads
 * onto sae-seeds' SAE with the same active latents and activations and reconstructions within 1e-5; what a
 * reader cannot compute exactly is refused in one line naming the field or tensor — and so is a SAELens file
 * whose architecture label contradicts its tensors.
 */
import { describe, it, expect } from "vitest";
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSafetensors, writeSafetensors } from "../src/gpt2/safetensors.ts";
import { detectSAEFormat, loadDecoder, loadSAE } from "../src/sae/io.ts";
import { encode, reconstruct, type SAE } from "../src/sae/sae.ts";
import type { Recipe } from "../src/sae/config.ts";

const FIX = join(import.meta.dirname, "fixtures", "other_libraries");
const SAELENS = join(import.meta.dirname, "fixtures", "saelens_files");
const TORCH = join(import.meta.dirname, "fixtures", "torch_checkpoints");
const TOLERANCE = 1e-5;

function dense(sae: SAE, x: Float32Array, rows: number): Float32Array {
  const code = encode(sae, x, rows);
  const n = sae.params.dSae;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) for (let s = 0; s < code.k; s++) if (code.values[r * code.k + s] !== 0) out[r * n + code.indices[r * code.k + s]!] = code.values[r * code.k + s]!;
  return out;
}

/** Same active set; every activation and reconstruction within 1e-5 (relative above 1). Returns the worst errors. */
function checkAgainstLibrary(sae: SAE, expectedPath: string, what: string): { acts: number; out: number } {
  const f = openSafetensors(expectedPath);
  const x = f.readFloat32("x"), rows = f.info("x").shape[0]!;
  const want = f.readFloat32("feature_acts"), wantOut = f.readFloat32("sae_out");
  f.close();
  const got = dense(sae, x, rows);
  let acts = 0, out = 0;
  for (let i = 0; i < want.length; i++) {
    expect(got[i] !== 0, `${what}: latent ${i % sae.params.dSae} of row ${Math.floor(i / sae.params.dSae)} active here (${got[i]}) vs the library (${want[i]})`).toBe(want[i] !== 0);
    acts = Math.max(acts, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  }
  const rec = reconstruct(sae, x, rows);
  for (let i = 0; i < wantOut.length; i++) out = Math.max(out, Math.abs(rec[i]! - wantOut[i]!) / Math.max(1, Math.abs(wantOut[i]!)));
  expect(acts, `${what} activations`).toBeLessThanOrEqual(TOLERANCE);
  expect(out, `${what} reconstructions`).toBeLessThanOrEqual(TOLERANCE);
  return { acts, out };
}

function copy(from: string): string {
  const dir = mkdtempSync(join(tmpdir(), "lib-"));
  cpSync(from, dir, { recursive: true });
  return dir;
}

function editJson(path: string, edit: (v: Record<string, unknown>) => void): void {
  const v = JSON.parse(readFileSync(path, "utf8"));
  edit(v);
  writeFileSync(path, JSON.stringify(v));
}

function rewriteTensors(path: string, change: (t: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }>) => void): void {
  const f = openSafetensors(path);
  const t: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  for (const n of f.names()) t[n] = { dtype: "F32", shape: f.info(n).shape, data: f.readFloat32(n) };
  f.close();
  change(t);
  writeSafetensors(path, t);
}

describe("sparsify", () => {
  const repo = join(FIX, "sparsify_repo");

  it.each(["layers.3", "layers.5.mlp"])("hookpoint folder %s encodes and reconstructs as sparsify does", (hookpoint) => {
    const loaded = loadSAE(join(repo, hookpoint));
    expect(loaded).toMatchObject({ format: "sparsify", architecture: "topk", hookName: hookpoint, modelName: "EleutherAI/pythia-160m" });
    expect(loaded.sae).toMatchObject({ recipe: "topk", k: 4 });
    expect(loaded.sae.params.dSae).toBe(24); // num_latents 24; and d_in 12 × expansion_factor 2
    checkAgainstLibrary(loaded.sae, join(repo, hookpoint, "expected.safetensors"), hookpoint);
  });

  it("a repository (one folder per hookpoint) needs --hookpoint when it has several", () => {
    expect(detectSAEFormat(repo).format).toBe("sparsify");
    expect(() => loadSAE(repo)).toThrow(/a sparsify repository with 2 hookpoints \(layers\.3, layers\.5\.mlp\); choose one with --hookpoint/);
    expect(loadSAE(repo, { hookpoint: "layers.5.mlp" }).hookName).toBe("layers.5.mlp");
    expect(() => loadSAE(repo, { hookpoint: "layers.9" })).toThrow(/no hookpoint "layers\.9" \(it has layers\.3, layers\.5\.mlp\)/);
    expect(() => loadSAE(join(SAELENS, "v6_jumprelu"), { hookpoint: "layers.3" })).toThrow(/--hookpoint picks a folder of a sparsify repository/);
  });

  it("the sae.safetensors file itself, and decoder-only loading, work too", () => {
    expect(loadSAE(join(repo, "layers.3", "sae.safetensors")).format).toBe("sparsify");
    expect(loadDecoder(join(repo, "layers.3")).sae.params.wDec.length).toBe(24 * 12);
  });

  const refusals: [string, (cfg: Record<string, unknown>) => void, RegExp][] = [
    ["groupmax", (c) => { c.activation = "groupmax"; }, /field "activation" is "groupmax" \(the max of each of k groups of latents\), which is not Top-K/],
    ["transcoder", (c) => { c.transcode = true; }, /field "transcode" is true: a sparsify transcoder/],
    ["signed", (c) => { c.signed = true; }, /field "signed" is true: sparsify's old signed variant/],
    ["unknown field", (c) => { c.jumprelu = true; }, /field "jumprelu" is not a sparsify field sae-seeds knows/],
    ["num_latents", (c) => { c.num_latents = 48; }, /field "num_latents" gives d_sae = 48 but encoder\.weight has 24 latents/],
    ["d_in", (c) => { c.d_in = 13; }, /field "d_in" is 13 but encoder\.weight holds d_in = 12/],
    ["k", (c) => { c.k = 30; }, /field "k" is 30, outside 1\.\.d_sae \(24\)/],
  ];
  it.each(refusals)("refuses %s in one line", (_what, edit, message) => {
    const dir = copy(join(repo, "layers.3"));
    editJson(join(dir, "cfg.json"), edit);
    expect(() => loadSAE(dir)).toThrow(message);
  });

  it("refuses a skip connection (W_skip) and any tensor sparsify's SAE does not have", () => {
    const dir = copy(join(repo, "layers.3"));
    editJson(join(dir, "cfg.json"), (c) => { c.skip_connection = true; });
    rewriteTensors(join(dir, "sae.safetensors"), (t) => { t.W_skip = { dtype: "F32", shape: [12, 12], data: new Float32Array(144) }; });
    expect(() => loadSAE(dir)).toThrow(/field "skip_connection" is true: the reconstruction gains x·W_skipᵀ/);
    editJson(join(dir, "cfg.json"), (c) => { c.skip_connection = false; });
    expect(() => loadSAE(dir)).toThrow(/tensor "W_skip" is not part of a sparsify Top-K SAE/);
  });
});

describe("dictionary_learning", () => {
  const EXPECT: Record<string, Recipe> = {
    dl_standard_april: "relu-l1", dl_autoencoder_new: "relu-l1", dl_gated: "gated", dl_jumprelu: "jumprelu", dl_topk: "topk",
    dl_batchtopk: "batchtopk", dl_matryoshka: "matryoshka-batchtopk",
  };
  const cases = readdirSync(FIX).filter((n) => n.startsWith("dl_")).sort();

  it("every class the library saves has a fixture", () => expect(cases).toEqual(Object.keys(EXPECT).sort()));

  it.each(cases)("%s: ae.pt + config.json encode and reconstruct as dictionary_learning does", (name) => {
    const loaded = loadSAE(join(FIX, name));
    expect(loaded.format).toBe("dictionary_learning");
    expect(loaded.sae.recipe).toBe(EXPECT[name]);
    expect(loaded).toMatchObject({ modelName: "EleutherAI/pythia-70m-deduped", hookName: "resid_post_layer_3" });
    checkAgainstLibrary(loaded.sae, join(FIX, name, "expected.safetensors"), name);
  });

  it("JumpReLU does not subtract b_dec (not saved, the class's default); TopK and BatchTopK read k from both places", () => {
    expect(loadSAE(join(FIX, "dl_jumprelu")).sae.applyDecoderBiasToInput).toBe(false);
    expect(loadSAE(join(FIX, "dl_topk")).sae.k).toBe(4);
    expect(loadSAE(join(FIX, "dl_batchtopk", "ae.pt")).sae.k).toBe(4);
  });

  it("refuses k that disagrees between config.json and the state dict, an unknown class, and --k on a non-TopK class", () => {
    const dir = copy(join(FIX, "dl_topk"));
    editJson(join(dir, "config.json"), (c) => { (c.trainer as Record<string, unknown>).k = 5; });
    expect(() => loadSAE(dir)).toThrow(/field "k" is 5 but the state dict's k tensor is 4; they must agree/);
    editJson(join(dir, "config.json"), (c) => { (c.trainer as Record<string, unknown>).dict_class = "CrossCoder"; });
    expect(() => loadSAE(dir)).toThrow(/field "dict_class" is "CrossCoder", which sae-seeds does not read/);
    expect(() => loadSAE(join(FIX, "dl_gated"), 4)).toThrow(/--k applies to TopK SAEs only, and this is a GatedAutoEncoder/);
    const wrong = copy(join(FIX, "dl_topk"));
    editJson(join(wrong, "config.json"), (c) => { (c.trainer as Record<string, unknown>).dict_size = 48; });
    expect(() => loadSAE(wrong)).toThrow(/field "dict_size" is 48 but encoder\.weight holds 24 latents/);
  });

  it("refuses a state dict of another class than config.json names, naming the extra tensors", () => {
    const dir = copy(join(FIX, "dl_topk"));
    editJson(join(dir, "config.json"), (c) => { (c.trainer as Record<string, unknown>).dict_class = "AutoEncoderNew"; });
    expect(() => loadSAE(dir)).toThrow(/no tensor "decoder\.bias", which a AutoEncoderNew has/);
    const batch = copy(join(FIX, "dl_batchtopk"));
    editJson(join(batch, "config.json"), (c) => { (c.trainer as Record<string, unknown>).dict_class = "AutoEncoderTopK"; });
    expect(loadSAE(batch).sae.recipe).toBe("topk"); // TopK's state dict has the same names (its threshold is unused by encode)
    const jump = copy(join(FIX, "dl_jumprelu"));
    editJson(join(jump, "config.json"), (c) => { (c.trainer as Record<string, unknown>).dict_class = "MatryoshkaBatchTopKSAE"; });
    expect(() => loadSAE(jump)).toThrow(/no tensor "group_sizes"/);
  });

  it("refuses a training backup, a hostile ae.pt and a missing config.json, each in one line", () => {
    const dir = copy(join(FIX, "dl_topk"));
    cpSync(join(TORCH, "backup.pt"), join(dir, "ae.pt"));
    expect(() => loadSAE(dir)).toThrow(/is dictionary_learning's training backup \(step 12\), written while training runs/);
    cpSync(join(TORCH, "hostile.pt"), join(dir, "ae.pt"));
    expect(() => loadSAE(dir)).toThrow(/imports posix\.system, which sae-seeds does not allow/);
    const lone = mkdtempSync(join(tmpdir(), "lone-"));
    cpSync(join(FIX, "dl_topk", "ae.pt"), join(lone, "ae.pt"));
    expect(() => loadSAE(lone)).toThrow(/no config\.json beside/);
  });
});

describe("SAELens files whose architecture contradicts their tensors", () => {
  it("a JumpReLU file relabelled standard or topk is refused, naming threshold", () => {
    const standard = copy(join(SAELENS, "v6_jumprelu"));
    editJson(join(standard, "cfg.json"), (c) => { c.architecture = "standard"; });
    expect(() => loadSAE(standard)).toThrow(/tensor "threshold" is not part of a standard SAE \(cfg\.json "architecture"\); the architecture label contradicts the weights/);
    const topk = copy(join(SAELENS, "v6_jumprelu"));
    editJson(join(topk, "cfg.json"), (c) => { c.architecture = "topk"; c.k = 4; });
    expect(() => loadSAE(topk)).toThrow(/tensor "threshold" is not part of a topk SAE/);
  });

  it("a gated file relabelled jumprelu is refused for its missing threshold", () => {
    const dir = copy(join(SAELENS, "v6_gated"));
    editJson(join(dir, "cfg.json"), (c) => { c.architecture = "jumprelu"; });
    expect(() => loadSAE(dir)).toThrow(/no tensor "b_enc", which a jumprelu SAE needs/);
  });
});
