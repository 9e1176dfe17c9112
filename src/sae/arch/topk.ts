/**
 * `topk` — Gao et al. 2024, "Scaling and evaluating sparse autoencoders":
 *   z = ReLU(TopK(W_enc·(x − b_dec) + b_enc)),  x̂ = W_dec·z + b_dec,
 *   loss = FVU (Σ(x̂ − x)² / Σ(x − x̄)² over the batch) + α·AuxK (the top-k_aux dead latents reconstruct the
 *   residual; α = 1/32, k_aux = d_in/2); unit-norm decoder rows (the gradient's component along each row is
 *   removed before Adam, rows renormalised after); Adam(4e-4, 0.9/0.999, ε 6.25e-10).
 *   Init: random unit decoder rows, W_enc = W_decᵀ, b_enc = 0, b_dec = geometric median of a sample of inputs.
 * Backward: ∂L/∂pre_j = ∂L/∂z_j for the kept latents with pre > 0 (the others pass nothing).
 * Files: SAELens `topk` (k, ReLU after the selection); `rescale_acts_by_decoder_norm: true` is folded in on load.
 */
import type { Architecture } from "./types.ts";
import { tiedInit } from "../params.ts";
import { encoderForward, rowTopK, countFiring, decode, reconstructionLoss, backwardDecoder, auxK, encoderBackward } from "../step.ts";
import { topkRows } from "../../tensor/ops.ts";

export const topk: Architecture = {
  recipe: "topk",
  sparsity: "topk",
  extraParams: [],
  subtractDecoderBias: true,
  encoderBias: true,
  unitNormDecoder: true,
  defaults: ({ dIn }) => ({
    eps: 6.25e-10, kAux: Math.floor(dIn / 2), auxCoefficient: 1 / 32, decoderBiasInit: "geometric-median", decoderInitNorm: 1,
  }),
  init: (c, sample, rows) => tiedInit(c, sample, rows),

  step(ctx) {
    const { p, cfg, ws } = ctx;
    encoderForward(ctx, true, true);
    const code = rowTopK(ctx, cfg.k, true);
    const l0 = countFiring(ctx, code);
    decode(code, p.wDec, p.dIn, p.bDec, ws.xhat, ws);
    const rec = reconstructionLoss(ctx, "fvu");
    // Every entry is positive, so ReLU passes ∂L/∂z unchanged: grad already holds ∂L/∂pre.
    backwardDecoder(code, ws.gOut, p.wDec, p.dIn, ws.grads.wDec, ws);
    const auxLoss = auxK(ctx);
    encoderBackward(ctx, [code, ws.aux], true, true);
    return { loss: rec.fvu + cfg.auxCoefficient * auxLoss, fvu: rec.fvu, mse: rec.mse, auxLoss, sparsityLoss: 0, l0 };
  },

  encodeRows(sae, pre, rows) {
    const k = sae.k;
    const indices = new Int32Array(rows * k);
    const values = new Float32Array(rows * k);
    topkRows(pre, rows, sae.params.dSae, k, values, indices);
    for (let i = 0; i < values.length; i++) values[i] = Math.max(values[i]!, 0);
    return { rows, k, indices, values };
  },
  fires: (v) => v > 0,
  deadRule: (rows) => `never active (ReLU(top-k pre-activation) > 0) on the ${rows} analysed rows`,

  saelens: {
    architecture: "topk",
    activationFn: "topk",
    encoderBiasName: "b_enc",
    rescalesByDecoderNorm: true,
    write: (sae) => ({ cfg: { k: sae.k, rescale_acts_by_decoder_norm: false }, tensors: {} }),
    read: () => undefined,
  },
};
