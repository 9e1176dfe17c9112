/**
 * The GPT-2 backward pass and AdamW against PyTorch (tools/reference/train_gpt2_reference.py, the test_gpt2.c
 * check of llm.c): a tiny GPT-2 (2 layers, 3 heads, d 24, vocab 67) on a fixed batch with right padding.
 * The reference is float64 autograd from the same float32 weights; we train in float32 with float64 reductions.
 *
 * Tolerances (measured worst case in brackets, on the project's machine):
 *   loss                              |Δ| ≤ 1e-6 × loss                              [4e-9 relative]
 *   every parameter gradient          max |Δ| ≤ 5e-6 × max |reference| of the tensor [4.7e-7]
 *   losses before each of 10 AdamW steps (clipping, warmup + cosine, weight decay)
 *                                     |Δ| ≤ 2e-6 × loss                              [1.1e-7 relative]
 *   gradient norm (before clipping)   |Δ| ≤ 1e-6 × norm;  learning rate  |Δ| ≤ 1e-15
 */
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openSafetensors } from "../src/gpt2/safetensors.ts";
import { parseGPT2Config } from "../src/gpt2/config.ts";
import { mapCheckpoint, type GPT2Weights } from "../src/gpt2/weights.ts";
import { paramLayout, flatten, type ParamLayout } from "../src/gpt2/train/params.ts";
import { GPT2TrainModel, type TokenBatch } from "../src/gpt2/train/gpt2_train.ts";
import { AdamWState, adamwUpdate, clipGradients, gradNorm, learningRate } from "../src/gpt2/train/adamw.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "gpt2_train");

interface Reference {
  config: Record<string, number>;
  hyper: { max_lr: number; min_lr: number; warmup: number; steps: number; beta1: number; beta2: number; eps: number; weight_decay: number; grad_clip: number };
  batch: number; seq: number; loss: number; step_losses: number[]; grad_norms: number[]; lrs: number[]; final_loss: number;
}

describe("GPT-2 training vs PyTorch (tiny GPT-2, padded batch)", () => {
  let ref: Reference, layout: ParamLayout, weights: GPT2Weights, batch: TokenBatch, grads: Map<string, Float32Array>;
  beforeAll(() => {
    ref = JSON.parse(readFileSync(join(FIXTURE, "reference.json"), "utf8")) as Reference;
    const config = parseGPT2Config(ref.config, "reference.json");
    const st = openSafetensors(join(FIXTURE, "inputs.safetensors"));
    weights = mapCheckpoint({ names: () => st.names().filter((n) => !n.startsWith("batch.")), shape: (n) => st.info(n).shape, read: (n) => st.readFloat32(n) }, config);
    batch = { batch: ref.batch, seq: ref.seq, tokens: st.readInt32("batch.tokens"), targets: st.readInt32("batch.targets"), mask: st.readInt32("batch.mask") };
    st.close();
    const rs = openSafetensors(join(FIXTURE, "reference.safetensors"));
    grads = new Map(rs.names().map((n) => [n, rs.readFloat32(n)]));
    rs.close();
    layout = paramLayout(config);
  });

  it.each([[256], [7]])("loss and every parameter gradient match (logits in chunks of %i rows)", (chunkRows) => {
    const model = new GPT2TrainModel(layout, flatten(layout, weights));
    model.chunkRows = chunkRows;
    const { loss, count } = model.lossAndGradients(batch);
    expect(count).toBe(27); // 3 × 10 positions less 3 padded
    expect(Math.abs(loss - ref.loss)).toBeLessThanOrEqual(1e-6 * ref.loss);
    expect(grads.get("loss")![0]).toBeCloseTo(loss, 5);
    for (const t of layout.tensors) {
      const expected = grads.get(`grad.${t.key}`)!;
      const actual = model.grads.subarray(t.offset, t.offset + t.size);
      let maxAbs = 0, maxErr = 0;
      for (let i = 0; i < expected.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
        maxErr = Math.max(maxErr, Math.abs(actual[i]! - expected[i]!));
      }
      expect(maxAbs, `${t.key} has a non-zero reference gradient`).toBeGreaterThan(0);
      expect(maxErr, `${t.key}: max error ${maxErr.toExponential(2)} vs max |grad| ${maxAbs.toExponential(2)}`).toBeLessThanOrEqual(5e-6 * maxAbs);
    }
  });

  it("the padded positions get no loss and change nothing: gradients equal those of the unpadded prefix", () => {
    // Changing the tokens under the padding must not change any gradient (they are neither attended to nor scored).
    const model = new GPT2TrainModel(layout, flatten(layout, weights));
    model.lossAndGradients(batch);
    const before = model.grads.slice();
    const tokens = Int32Array.from(batch.tokens as Int32Array);
    for (let i = 0; i < tokens.length; i++) if (batch.mask![i] === 0) tokens[i] = (tokens[i]! + 5) % 60;
    model.lossAndGradients({ ...batch, tokens });
    // (A padded position's own embedding row gets a zero gradient added, so even wte is unchanged.)
    expect(model.grads).toEqual(before);
  });

  it("10 AdamW steps (clipping, warmup + cosine, weight decay on matrices) track PyTorch's losses", () => {
    const model = new GPT2TrainModel(layout, flatten(layout, weights));
    const state = new AdamWState(layout.total);
    const h = ref.hyper;
    const schedule = { maxLr: h.max_lr, minLr: h.min_lr, warmupSteps: h.warmup, totalSteps: h.steps };
    for (let s = 0; s < h.steps; s++) {
      const { loss } = model.lossAndGradients(batch);
      expect(Math.abs(loss - ref.step_losses[s]!), `step ${s} loss`).toBeLessThanOrEqual(2e-6 * ref.step_losses[s]!);
      const norm = gradNorm(model.grads);
      expect(Math.abs(norm - ref.grad_norms[s]!), `step ${s} grad norm`).toBeLessThanOrEqual(1e-6 * ref.grad_norms[s]!);
      clipGradients(model.grads, norm, h.grad_clip);
      const lr = learningRate(s, schedule);
      expect(Math.abs(lr - ref.lrs[s]!)).toBeLessThanOrEqual(1e-15);
      adamwUpdate(layout, model.params, model.grads, state, lr, { beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weight_decay });
    }
    const final = model.loss(batch).loss;
    expect(Math.abs(final - ref.final_loss)).toBeLessThanOrEqual(2e-6 * ref.final_loss);
    expect(final).toBeLessThan(ref.step_losses[0]! / 3); // it learned
  });
});
