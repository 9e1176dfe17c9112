/**
 * `batchtopk` — Bussmann et al. 2024, "BatchTopK Sparse Autoencoders": the k·B largest ReLU'd pre-activations
 * of the whole batch are kept (so rows use k latents on average, not each exactly k):
 *   a = ReLU(W_enc·(x − b_dec) + b_enc) over the batch [B, d_sae];  z = a on the top k·B entries of a (ties: the
 *   lower row, then the lower latent), 0 elsewhere;  x̂ = W_dec·z + b_dec.
 * Everything else is the topk recipe's (so the two differ only in the selection): FVU + AuxK/32 over dead
 * latents, unit-norm decoder rows (gradient projection, renormalisation), Adam(4e-4, 0.9/0.999, ε 6.25e-10),
 * geometric-median b_dec, W_enc = W_decᵀ.
 * Inference threshold (dictionary_learning's BatchTopKTrainer, SAELens's rate): after every step θ moves toward
 * the smallest kept activation m of the batch, θ ← (1 − r)·θ + r·m with r = 0.01 (the first step sets θ = m). At
 * inference a latent is active when ReLU(pre) > θ — the JumpReLU form with every latent's threshold θ, which is
 * how SAELens exports BatchTopK SAEs (`architecture: jumprelu`, `threshold`), and how we write them.
 * Backward: ∂L/∂pre = ∂L/∂z at the kept entries (all positive), 0 elsewhere.
 */
import type { Architecture } from "./types.ts";
import { tiedInit, extraParam, type SAEParams } from "../params.ts";
import { topk } from "./topk.ts";
import { thresholdCode, selectBatchTopK } from "../selection.ts";
import { encoderForward, countFiring, decode, reconstructionLoss, backwardDecoder, auxK, encoderBackward, type StepContext } from "../step.ts";
import type { LatentCode } from "../latent_code.ts";

/** The running threshold after a step whose smallest kept activation was `m` (−1 means not yet set). */
export function nextThreshold(theta: number, m: number, rate: number): number {
  if (!(m > 0)) return theta;
  return theta < 0 ? m : (1 - rate) * theta + rate * m;
}

/** Forward, loss and backward of a BatchTopK batch; Matryoshka adds its nested losses through `extraLoss`. */
export function batchTopKStep(ctx: StepContext, extraLoss?: (code: LatentCode) => number) {
  const { p, cfg, ws, rows } = ctx;
  encoderForward(ctx, true, true);
  const code = ws.main;
  const smallest = selectBatchTopK(ws.pre, rows, p.dSae, cfg.k * rows, code);
  ctx.buffers.threshold = nextThreshold(ctx.buffers.threshold ?? -1, smallest, cfg.thresholdRate);
  const l0 = countFiring(ctx, code);
  decode(code, p.wDec, p.dIn, p.bDec, ws.xhat, ws);
  const rec = reconstructionLoss(ctx, "fvu");
  let nested = 0;
  if (extraLoss) nested = extraLoss(code);
  else backwardDecoder(code, ws.gOut, p.wDec, p.dIn, ws.grads.wDec, ws);
  const auxLoss = auxK(ctx);
  encoderBackward(ctx, [code, ws.aux], true, true);
  return { loss: rec.fvu + nested + cfg.auxCoefficient * auxLoss, fvu: rec.fvu, mse: rec.mse, auxLoss, sparsityLoss: 0, l0 };
}

/** The inference parameters: every latent's threshold = the running estimate (0 before any step). */
export function globalThresholdParams(p: SAEParams, buffers: Readonly<Record<string, number>>): SAEParams {
  return { ...p, extra: { threshold: new Float32Array(p.dSae).fill(Math.max(buffers.threshold ?? 0, 0)) } };
}

export const batchtopk: Architecture = {
  recipe: "batchtopk",
  sparsity: "batch-topk",
  extraParams: [],
  subtractDecoderBias: true,
  encoderBias: true,
  unitNormDecoder: true,
  buffers: { threshold: -1 },
  defaults: (dims) => ({ ...topk.defaults(dims), thresholdRate: 0.01 }),
  validate(c) {
    if (!(c.thresholdRate > 0 && c.thresholdRate <= 1)) throw new Error(`SAE config: ${c.recipe} needs thresholdRate in (0, 1], got ${c.thresholdRate}`);
  },
  init: (c, sample, rows) => tiedInit(c, sample, rows),
  step: (ctx) => batchTopKStep(ctx),
  inferenceParams: globalThresholdParams,
  // Training parameters carry no threshold yet (it is a training buffer): then every positive activation passes.
  encodeRows: (sae, pre, rows) => thresholdCode(pre, rows, sae.params.extra?.threshold ?? new Float32Array(sae.params.dSae)),
  fires: (v) => v > 0,
  deadRule: (rows) => `never active (ReLU(pre-activation) above the global threshold) on the ${rows} analysed rows`,

  saelens: {
    // As SAELens saves BatchTopK SAEs for inference: a JumpReLU with the global threshold for every latent.
    architecture: "jumprelu",
    alsoReads: ["batchtopk"],
    activationFn: "relu",
    encoderBiasName: "b_enc",
    rescalesByDecoderNorm: true,
    write: (sae) => ({ cfg: {}, tensors: { threshold: extraParam(sae.params, "threshold") } }),
    read(cfg, tensor, { dSae }) {
      // SAELens writes `threshold` per latent; its BatchTopK training checkpoints keep the scalar `topk_threshold`.
      if (cfg.architecture === "batchtopk" || cfg.architecture === "matryoshka_batchtopk") return { threshold: new Float32Array(dSae).fill(tensor("topk_threshold", "scalar")[0]!) };
      return { threshold: tensor("threshold", [dSae]) };
    },
  },
};
