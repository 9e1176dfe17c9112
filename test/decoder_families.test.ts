/**
 * The decoder forward for GPT-NeoX/Pythia, Llama and Gemma-2 against Hugging Face's own modeling code
 * (transformers v4.46.3 run under PyTorch in float64 by tools/reference/hf_decoder_reference.py): the logits and
 * every hooked activation within 1e-4 of the reference's largest value, from F32 and from BF16 files (BF16 kept in
 * 16 bits in memory). Cases: both NeoX residual forms, GQA and MQA, llama3 rope scaling, tied and untied heads,
 * optional biases, Gemma-2 with a window shorter than the sequence and with soft-capping on and off.
 */
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openSafetensors } from "../src/gpt2/safetensors.ts";
import { openSafetensorsFiles } from "../src/gpt2/checkpoint_files.ts";
import { familyForConfig, parseModelConfig } from "../src/gpt2/families/index.ts";
import { forward } from "../src/gpt2/model.ts";
import { allHookNames } from "../src/gpt2/hooks.ts";
import type { DecoderWeights } from "../src/gpt2/decoder/weights.ts";

const ROOT = join(import.meta.dirname, "fixtures", "decoder_families");
const CASES = ["pythia_parallel", "neox_sequential_tied", "llama_gqa", "llama3_tied", "gemma2_window", "gemma2_nocap"];

function load(name: string, file: string): DecoderWeights {
  const dir = join(ROOT, name);
  const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  const config = parseModelConfig(json, `${name}/config.json`);
  const open = openSafetensorsFiles([join(dir, file)]);
  try {
    return familyForConfig(json, name).mapTensors(open.tensors, config, { label: `${name}/${file}` });
  } finally {
    open.close();
  }
}

function readAll(name: string, file: string): Map<string, Float32Array> {
  const st = openSafetensors(join(ROOT, name, file));
  const out = new Map(st.names().map((n) => [n, st.readFloat32(n)]));
  st.close();
  return out;
}

function inputs(name: string): { tokens: Int32Array; mask: Int32Array } {
  const st = openSafetensors(join(ROOT, name, "inputs.safetensors"));
  const out = { tokens: st.readInt32("tokens"), mask: st.readInt32("attention_mask") };
  st.close();
  return out;
}

/** max |a − b| ≤ 1e-4 × max |b| (the tolerance); returns the measured ratio. */
function expectMatches(actual: Float32Array | undefined, expected: Float32Array, what: string): number {
  expect(actual, what).toBeDefined();
  expect(actual!.length, what).toBe(expected.length);
  let maxAbs = 0, maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
    maxErr = Math.max(maxErr, Math.abs(actual![i]! - expected[i]!));
  }
  if (!(maxErr <= 1e-4 * maxAbs)) throw new Error(`${what}: max abs error ${maxErr.toExponential(3)} > 1e-4 × ${maxAbs.toExponential(3)}`);
  return maxErr / maxAbs;
}

describe.each(CASES)("%s against Hugging Face", (name) => {
  const { tokens, mask } = inputs(name);
  const [B, T] = [2, tokens.length / 2];

  it("matches every hook and the logits (F32 file)", () => {
    const weights = load(name, "model.safetensors");
    const ref = readAll(name, "outputs.safetensors");
    const hooks = allHookNames(weights.config);
    expect(new Set([...hooks, "logits"])).toEqual(new Set([...ref.keys()].filter((k) => !k.endsWith("_centered"))));
    const out = forward(weights, tokens, B, T, { hooks, logits: "all", attentionMask: mask });
    for (const h of hooks) expectMatches(out.hooks.get(h), ref.get(h)!, h);
    expectMatches(out.logits!, ref.get("logits")!, "logits");
  });

  it("matches the BF16 file's reference, its matrices kept in 16 bits", () => {
    const weights = load(name, "model_bf16.safetensors");
    expect(weights.blocks[0]!.qkv.weight.dtype).toBe("BF16");
    expect(weights.blocks[0]!.qkv.weight.data).toBeInstanceOf(Uint16Array);
    expect(weights.embed.dtype).toBe("BF16");
    const ref = readAll(name, "outputs_bf16.safetensors");
    const hooks = [...ref.keys()].filter((k) => k !== "logits");
    const out = forward(weights, tokens, B, T, { hooks, logits: "all", attentionMask: mask });
    for (const h of hooks) expectMatches(out.hooks.get(h), ref.get(h)!, `bf16 ${h}`);
    expectMatches(out.logits!, ref.get("logits")!, "bf16 logits");
  });
});

describe("centred residual (TransformerLens convention) on a LayerNorm family", () => {
  it("is the Hugging Face residual minus its mean over d_model, and splicing it in changes nothing", () => {
    const name = "pythia_parallel";
    const { tokens, mask } = inputs(name);
    const weights = load(name, "model.safetensors");
    const ref = readAll(name, "outputs.safetensors");
    const out = forward(weights, tokens, 2, 10, { hooks: ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"], residual: "centered", attentionMask: mask });
    for (const l of [0, 1]) expectMatches(out.hooks.get(`blocks.${l}.hook_resid_pre`), ref.get(`blocks.${l}.hook_resid_pre_centered`)!, `centred L${l}`);
    const spliced = forward(weights, tokens, 2, 10, { logits: "all", attentionMask: mask, startAt: { layer: 1, residual: out.hooks.get("blocks.1.hook_resid_pre")! } });
    expectMatches(spliced.logits!, ref.get("logits")!, "logits from the spliced centred residual");
  });
});

describe("splicing values in at any hook (how SAE reconstructions are scored)", () => {
  it.each(CASES)("%s: splicing a hook's own activations reproduces the logits; zeros change them; every hook kind", (name) => {
    const { tokens, mask } = inputs(name);
    const weights = load(name, "model.safetensors");
    const hooks = allHookNames(weights.config);
    const clean = forward(weights, tokens, 2, 10, { hooks, logits: "all", attentionMask: mask });
    for (const hook of hooks) {
      const same = forward(weights, tokens, 2, 10, { logits: "all", attentionMask: mask, splice: { hook, values: clean.hooks.get(hook)! } });
      expect(Array.from(same.logits!), hook).toEqual(Array.from(clean.logits!));
      const zeroed = forward(weights, tokens, 2, 10, { logits: "all", attentionMask: mask, splice: { hook, values: new Float32Array(clean.hooks.get(hook)!.length) } });
      expect(Array.from(zeroed.logits!), hook).not.toEqual(Array.from(clean.logits!));
    }
    // Starting late: resid_pre of the next block, or after the last block for ln_final.
    const L = weights.config.nLayer;
    const fromLast = forward(weights, tokens, 2, 10, { logits: "all", attentionMask: mask, startAt: { layer: L, residual: clean.hooks.get(`blocks.${L - 1}.hook_resid_post`)! } });
    expect(Array.from(fromLast.logits!)).toEqual(Array.from(clean.logits!));
    const spliceMid = forward(weights, tokens, 2, 10, { logits: "all", attentionMask: mask, startAt: { layer: L - 1, residual: clean.hooks.get(`blocks.${L - 1}.hook_resid_pre`)! }, splice: { hook: `blocks.${L - 1}.hook_mlp_out`, values: clean.hooks.get(`blocks.${L - 1}.hook_mlp_out`)! } });
    expect(Array.from(spliceMid.logits!)).toEqual(Array.from(clean.logits!));
    expect(() => forward(weights, tokens, 2, 10, { logits: "all", startAt: { layer: 1, residual: clean.hooks.get("blocks.1.hook_resid_pre")! }, splice: { hook: "blocks.0.hook_attn_out", values: clean.hooks.get("blocks.0.hook_attn_out")! } })).toThrow(/comes before the start layer 1/);
  });

  it("a centred splice on a LayerNorm family gives the raw splice's logits (to float32 rounding), ln_final included", () => {
    const name = "neox_sequential_tied";
    const { tokens, mask } = inputs(name);
    const weights = load(name, "model.safetensors");
    const hooks = allHookNames(weights.config);
    const clean = forward(weights, tokens, 2, 10, { hooks: [], logits: "all", attentionMask: mask });
    const centred = forward(weights, tokens, 2, 10, { hooks, residual: "centered", attentionMask: mask });
    for (const hook of hooks) {
      const out = forward(weights, tokens, 2, 10, { logits: "all", attentionMask: mask, residual: "centered", splice: { hook, values: centred.hooks.get(hook)! } });
      expectMatches(out.logits!, clean.logits!, `centred splice at ${hook}`);
    }
  });
});
