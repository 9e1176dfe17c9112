/**
 * Starting the forward pass at a block from a given residual stream (how an SAE reconstruction is spliced in): from the
 * residual the full pass had there, every later hook and the logits are the same bits; from the centered
 * (TransformerLens) residual they agree to float32 rounding, since blocks read the residual only through layer norms.
 */
import { describe, it, expect } from "vitest";
import { forward } from "../src/gpt2/model.ts";
import { randomGPT2Weights } from "../src/gpt2/random_model.ts";

const config = { nLayer: 3, nHead: 2, nEmbd: 32, nPositions: 16, vocabSize: 300, layerNormEpsilon: 1e-5 };
const weights = randomGPT2Weights(config, 11);
const batch = 3, seq = 12;
const tokens = Int32Array.from({ length: batch * seq }, (_, i) => (i * 37 + 5) % 300);
const mask = Uint8Array.from({ length: batch * seq }, (_, i) => (i % seq < (i < seq ? 12 : 8) ? 1 : 0)); // right padding in rows 2–3

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return worst / scale;
}

describe("forward from a block", () => {
  for (const layer of [0, 1, 2]) {
    it(`from blocks.${layer}.hook_resid_pre gives the full pass's later hooks and logits`, () => {
      const hook = `blocks.${layer}.hook_resid_pre`;
      const later = `blocks.2.hook_resid_post`;
      const full = forward(weights, tokens, batch, seq, { hooks: [hook, later], logits: "all", attentionMask: mask });
      const raw = forward(weights, tokens, batch, seq, { hooks: [later], logits: "all", attentionMask: mask, startAt: { layer, residual: full.hooks.get(hook)! } });
      expect(Buffer.from(raw.logits!.buffer).equals(Buffer.from(full.logits!.buffer))).toBe(true);
      expect(Buffer.from(raw.hooks.get(later)!.buffer).equals(Buffer.from(full.hooks.get(later)!.buffer))).toBe(true);
      const centered = forward(weights, tokens, batch, seq, { hooks: [hook], residual: "centered", attentionMask: mask }).hooks.get(hook)!;
      const fromCentered = forward(weights, tokens, batch, seq, { logits: "all", attentionMask: mask, startAt: { layer, residual: centered } });
      expect(maxRelDiff(full.logits!, fromCentered.logits!)).toBeLessThan(1e-5);
    });
  }

  it("refuses hooks before the start, a wrong residual size, and a layer the model does not have", () => {
    const r = new Float32Array(batch * seq * 32);
    expect(() => forward(weights, tokens, batch, seq, { hooks: ["blocks.0.hook_resid_post"], startAt: { layer: 1, residual: r } })).toThrow(/comes before the start layer 1/);
    expect(() => forward(weights, tokens, batch, seq, { logits: "all", startAt: { layer: 1, residual: r.subarray(1) } })).toThrow(/expected 36 rows × 32/);
    expect(() => forward(weights, tokens, batch, seq, { logits: "all", startAt: { layer: 4, residual: r } })).toThrow(/not a block of this 3-layer model/); // layer 3 = after the last block: allowed (ln_final splices)
  });
});
