/**
 * The native GPT-2 forward pass against PyTorch (tools/reference/gpt2_reference.py): every hook, the logits,
 * the F16 checkpoint path, the centred (TransformerLens) residual convention, and early stopping.
 */
import { describe, it, expect, beforeAll } from "vitest";
import { join } from "node:path";
import { openSafetensors } from "../src/gpt2/safetensors.ts";
import { readGPT2Config } from "../src/gpt2/config.ts";
import { mapCheckpoint, type GPT2Weights } from "../src/gpt2/weights.ts";
import { loadCheckpoint } from "../src/gpt2/loader.ts";
import { forward } from "../src/gpt2/model.ts";
import { allHookNames } from "../src/gpt2/hooks.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "gpt2_tiny");

function loadFrom(file: string): GPT2Weights {
  const config = readGPT2Config(join(FIXTURE, "config.json"));
  const st = openSafetensors(join(FIXTURE, file));
  try {
    return mapCheckpoint({ names: () => st.names(), shape: (n) => st.info(n).shape, read: (n) => st.readFloat32(n) }, config, file);
  } finally {
    st.close();
  }
}

function readAll(file: string): Map<string, Float32Array> {
  const st = openSafetensors(join(FIXTURE, file));
  const out = new Map(st.names().map((n) => [n, st.readFloat32(n)]));
  st.close();
  return out;
}

/** max |a − b| ≤ 1e-5 × max |b|, the tolerance. */
function expectMatches(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let maxAbs = 0, maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
    maxErr = Math.max(maxErr, Math.abs(actual[i]! - expected[i]!));
  }
  if (maxErr > 1e-5 * maxAbs) throw new Error(`${what}: max abs error ${maxErr.toExponential(3)} > 1e-5 × ${maxAbs.toExponential(3)}`);
}

describe("GPT-2 forward vs PyTorch (tiny random GPT-2, batch with right padding)", () => {
  let tokens: Int32Array, mask: Int32Array, reference: Map<string, Float32Array>;
  beforeAll(() => {
    const st = openSafetensors(join(FIXTURE, "inputs.safetensors"));
    tokens = st.readInt32("tokens");
    mask = st.readInt32("attention_mask");
    st.close();
    reference = readAll("outputs.safetensors");
  });

  it("matches every hook and the logits (F32 checkpoint with causal-mask buffers, which are ignored)", () => {
    const weights = loadFrom("model.safetensors");
    const hooks = allHookNames(weights.config);
    const out = forward(weights, tokens, 2, 8, { hooks, logits: "all", attentionMask: mask });
    for (const h of hooks) expectMatches(out.hooks.get(h)!, reference.get(h)!, h);
    expectMatches(out.logits!, reference.get("logits")!, "logits");
  });

  it("matches the F16 checkpoint's reference (weights upcast exactly from half precision)", () => {
    const weights = loadFrom("model_f16.safetensors");
    const ref16 = readAll("outputs_f16.safetensors");
    const out = forward(weights, tokens, 2, 8, { hooks: ["blocks.1.hook_resid_post"], logits: "all", attentionMask: mask });
    expectMatches(out.hooks.get("blocks.1.hook_resid_post")!, ref16.get("blocks.1.hook_resid_post")!, "f16 resid_post");
    expectMatches(out.logits!, ref16.get("logits")!, "f16 logits");
  });

  it("centred residual = HF residual minus its mean over d_model (TransformerLens's from_pretrained convention)", () => {
    const weights = loadFrom("model.safetensors");
    const out = forward(weights, tokens, 2, 8, { hooks: ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"], residual: "centered", attentionMask: mask });
    for (const l of [0, 1]) expectMatches(out.hooks.get(`blocks.${l}.hook_resid_pre`)!, reference.get(`blocks.${l}.hook_resid_pre_centered`)!, `centred L${l}`);
  });

  it("stops at the deepest requested hook and gives identical values", () => {
    const weights = loadFrom("model.safetensors");
    const partial = forward(weights, tokens, 2, 8, { hooks: ["blocks.1.hook_resid_pre"], attentionMask: mask });
    // If block 1 had run, its parameters would matter: corrupt them and the result must not change.
    const broken = { ...weights, blocks: [weights.blocks[0]!, { ...weights.blocks[1]!, fcWeight: new Float32Array(weights.blocks[1]!.fcWeight.length).fill(NaN) }] };
    const again = forward(broken, tokens, 2, 8, { hooks: ["blocks.1.hook_resid_pre"], attentionMask: mask });
    expect(Array.from(again.hooks.get("blocks.1.hook_resid_pre")!)).toEqual(Array.from(partial.hooks.get("blocks.1.hook_resid_pre")!));
    expectMatches(partial.hooks.get("blocks.1.hook_resid_pre")!, reference.get("blocks.1.hook_resid_pre")!, "early stop");
  });

  it("'last' logits pick each row's last real token", () => {
    const weights = loadFrom("model.safetensors");
    const out = forward(weights, tokens, 2, 8, { logits: "last", attentionMask: mask });
    const all = reference.get("logits")!;
    const V = weights.config.vocabSize;
    expectMatches(out.logits!.subarray(0, V), all.subarray(7 * V, 8 * V), "row 0 last");
    expectMatches(out.logits!.subarray(V, 2 * V), all.subarray(12 * V, 13 * V), "row 1 last real (position 4)");
  });

  it("loads through the directory loader, reporting the file's sha256", async () => {
    const m = await loadCheckpoint(FIXTURE);
    expect(m.kind).toBe("checkpoint");
    expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("rejects unknown hooks by listing the valid ones, and bad tokens by position", () => {
    const weights = loadFrom("model.safetensors");
    expect(() => forward(weights, tokens, 2, 8, { hooks: ["blocks.9.hook_resid_pre"] })).toThrow(/unknown hook "blocks.9.hook_resid_pre".*valid hooks: hook_embed/);
    expect(() => forward(weights, new Int32Array(16).fill(600), 2, 8)).toThrow(/token id 600 at position 0 is outside the vocabulary/);
  });
});
