/**
 * Quality metrics (CE-loss and KL scores with the reconstruction spliced in) at every kind of hook of every family:
 * the fast path (a spliced pass starting at the hook's block from its cached resid_pre, or at the unembedding for
 * ln_final) gives the same cross-entropy as splicing into a full forward pass from the tokens, computed here
 * independently.
 */
import { describe, it, expect } from "vitest";

import { join } from "node:path";
import { openSafetensors } from "../src/gpt2/safetensors.ts";
import { loadModelDir } from "../src/gpt2/model_dir.ts";
import { forward } from "../src/gpt2/model.ts";
import { hookBaseline, saeQuality, spliceStart } from "../src/sae/quality.ts";
import { reconstruct, type SAE } from "../src/sae/sae.ts";
import { initialiseParams } from "../src/sae/sae.ts";
import { defaultTrainConfig } from "../src/sae/config.ts";

const ROOT = join(import.meta.dirname, "fixtures", "decoder_families");

describe.each(["pythia_parallel", "neox_sequential_tied", "llama3_tied", "gemma2_window"])("%s", (name) => {
  it("splices at resid_pre/mid/post, attn_out, mlp_out, hook_embed and ln_final exactly as a full spliced forward", async () => {
    const model = await loadModelDir(join(ROOT, name));
    const st = openSafetensors(join(ROOT, name, "inputs.safetensors"));
    const tokens = st.readInt32("tokens"), mask = st.readInt32("attention_mask");
    st.close();
    // Two windows of 10: position 0 is BOS, padding where the mask is 0.
    const kind = Uint8Array.from(mask, (m, i) => (m === 0 ? 2 : i % 10 === 0 ? 1 : 0));
    const windows = { seqLen: 10, nWindows: 2, tokens, mask: Uint8Array.from(mask), kind };
    const c = model.weights.config;
    const last = c.nLayer - 1;
    const hooks = ["hook_embed", "blocks.0.hook_attn_out", `blocks.${last}.hook_mlp_out`, `blocks.${last}.hook_resid_post`, "blocks.1.hook_resid_pre", "ln_final.hook_normalized"];
    if (!c.parallelResidual) hooks.push("blocks.0.hook_resid_mid");
    for (const hook of hooks) {
      const base = hookBaseline(model.weights, windows, hook, "raw", 1);
      expect(base.start.kind, hook).toBe(hook === "hook_embed" ? "embedding" : /resid_(pre|post)$/.test(hook) ? "residual" : "inside");
      const params = initialiseParams(defaultTrainConfig("topk", { dIn: c.nEmbd, dSae: 48, k: 6, seed: 1 }), base.activations, 20);
      const sae: SAE = { recipe: "topk", k: 6, params, inputScale: 1 };
      const got = saeQuality(sae, model.weights, base);
      // Independently: the reconstruction at real tokens, the hook's own values elsewhere, spliced into a full pass.
      const xHat = reconstruct(sae, Float32Array.from(Array.from(base.realRows).flatMap((p) => Array.from(base.activations.subarray(p * c.nEmbd, (p + 1) * c.nEmbd)))), base.realRows.length);
      const values = base.activations.slice();
      base.realRows.forEach((p, t) => values.set(xHat.subarray(t * c.nEmbd, (t + 1) * c.nEmbd), p * c.nEmbd));
      const out = forward(model.weights, tokens, 2, 10, { logits: "all", attentionMask: mask, splice: { hook, values } });
      let ce = 0;
      for (const p of base.predictRows) {
        const row = out.logits!.subarray(p * c.vocabSize, (p + 1) * c.vocabSize);
        const max = Math.max(...row);
        const logZ = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
        ce += logZ - row[tokens[p + 1]!]!;
      }
      ce /= base.predictRows.length;
      expect(Math.abs(got.ceWithSae! - ce) / ce, hook).toBeLessThan(1e-12);
      expect(got.ceZeroAblation, hook).not.toBe(got.ceClean);
      expect(Number.isFinite(got.ceLossScore!) && Number.isFinite(got.klScore!), hook).toBe(true);
    }
    expect(spliceStart("ln_final.hook_normalized", model.weights)).toEqual({ kind: "inside", layer: c.nLayer, residualHook: `blocks.${last}.hook_resid_post` });
    if (c.parallelResidual) expect(() => spliceStart("blocks.0.hook_resid_mid", model.weights)).toThrow(/parallel residual: no hook_resid_mid/);
  });
});

