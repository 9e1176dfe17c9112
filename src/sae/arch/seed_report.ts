/**
 * `seed-report` — what the seed-stability study ran: z = scatter(TopK(W_enc·x + b_enc)) with NO ReLU (kept values
 * may be negative) and no b_dec subtraction, x̂ = W_dec·z + b_dec, plain MSE over batch × d_in, no decoder
 * normalisation, Adam(lr 1e-3, β 0.9/0.999, ε 1e-8) at a constant rate, batch 64, PyTorch-Linear init
 * (W_enc, b_enc ~ U(±1/√d_in)), W_dec = W_encᵀ, b_dec = 0; dead = never in the top-k after training.
 * Backward: ∂L/∂pre_j = ∂L/∂z_j for every kept latent.
 * Files: no SAELens architecture computes this (SAELens's TopK applies a ReLU), so cfg.json says
 * `architecture: "topk_no_relu"`, which every SAELens version refuses instead of misreading.
 */
import type { Architecture } from "./types.ts";
import { allocateParams } from "../params.ts";
import { Rng } from "../../tensor/rng.ts";
import { encoderForward, rowTopK, countFiring, decode, reconstructionLoss, backwardDecoder, encoderBackward } from "../step.ts";
import { topkRows } from "../../tensor/ops.ts";

export const seedReport: Architecture = {
  recipe: "seed-report",
  sparsity: "topk",
  extraParams: [],
  subtractDecoderBias: false,
  encoderBias: true,
  unitNormDecoder: false,
  defaults: () => ({
    batchSize: 64, lr: 1e-3, deadAfterTokens: Number.MAX_SAFE_INTEGER, normalizeActivations: false, decoderBiasInit: "zeros",
  }),
  init(c) {
    // PyTorch nn.Linear(d_in, d_sae) default init: weight and bias ~ U(−1/√fan_in, 1/√fan_in).
    const p = allocateParams(c.dIn, c.dSae);
    const bound = 1 / Math.sqrt(c.dIn);
    Rng.stream(c.seed, "sae/init/W_enc").fillUniform(p.wEnc, -bound, bound);
    Rng.stream(c.seed, "sae/init/b_enc").fillUniform(p.bEnc, -bound, bound);
    p.wDec.set(p.wEnc); // decoder.weight = encoder.weightᵀ
    return p;
  },

  step(ctx) {
    const { p, cfg, ws } = ctx;
    encoderForward(ctx, false, true);
    const code = rowTopK(ctx, cfg.k, false);
    const l0 = countFiring(ctx, code, true);
    decode(code, p.wDec, p.dIn, p.bDec, ws.xhat, ws);
    const rec = reconstructionLoss(ctx, "mean");
    backwardDecoder(code, ws.gOut, p.wDec, p.dIn, ws.grads.wDec, ws);
    encoderBackward(ctx, [code], false, true);
    return { loss: rec.loss, fvu: rec.fvu, mse: rec.mse, auxLoss: 0, sparsityLoss: 0, l0 };
  },

  encodeRows(sae, pre, rows) {
    const k = sae.k;
    const indices = new Int32Array(rows * k);
    const values = new Float32Array(rows * k);
    topkRows(pre, rows, sae.params.dSae, k, values, indices);
    return { rows, k, indices, values };
  },
  fires: () => true,
  deadRule: (rows) => `never selected in the top-k on the ${rows} analysed rows (the seed study's rule)`,

  saelens: {
    architecture: "topk_no_relu",
    activationFn: "topk_no_relu",
    encoderBiasName: "b_enc",
    write: (sae) => ({ cfg: { k: sae.k }, tensors: {} }),
    read: () => undefined,
  },
};
