/**
 * `jumprelu` — Rajamanoharan et al. 2024, "Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU Sparse
 * Autoencoders", with SAELens's jumprelu training defaults:
 *   pre = W_enc·(x − b_dec) + b_enc,  θ_j = exp(t_j) (a learned log-threshold per latent, initially ln 0.01),
 *   f_j = pre_j·H(pre_j − θ_j),  x̂ = W_dec·f + b_dec,
 *   loss = (1/B)·Σ_rows ‖x̂ − x‖²  +  λ·(1/B)·Σ_rows Σ_j H(pre_j − θ_j)        (an L0 penalty: SAELens "step" mode)
 *   No decoder constraint, W_enc = W_decᵀ, b_enc = 0, Adam(3e-4, 0.9/0.999, ε 1e-8), inputs scaled to
 *   E‖x‖² = d_in; λ starts at 1 (SAELens's default) and is steered toward L0 = k (../sparsity_control.ts), the
 *   controller's steps also applied to every log-threshold (steerSparsity below).
 *   Init: thresholds θ₀ for every latent, the value at which the initialisation sample's mean L0 is k
 *   (sparsityInit "target-l0"; "default": SAELens's 0.01). As for relu-l1, decoder rows start at norm 1 (SAELens:
 *   0.1) and b_dec at the geometric median, for short runs.
 * Backward — straight-through estimators with the rectangle kernel K(u) = [−½ < u < ½] and bandwidth ε = 0.05:
 *   ∂L/∂pre_j = ∂L/∂f_j·H(pre_j − θ_j)                                     (no pseudo-gradient into pre)
 *   ∂L/∂θ_j  = Σ_rows −(θ_j/ε)·K((pre_j − θ_j)/ε)·∂L/∂f_j  −  (λ/B)·Σ_rows (1/ε)·K((pre_j − θ_j)/ε)
 *   ∂L/∂t_j  = θ_j·∂L/∂θ_j.
 *   The code holds the active latents and, with value 0, those just below their threshold (θ − ε/2 < pre ≤ θ):
 *   their ∂L/∂f enters θ's gradient.
 * Files: SAELens `jumprelu` with `threshold` = exp(t) per latent.
 */
import type { Architecture } from "./types.ts";
import { tiedInit, extraParam, type SAEParams } from "../params.ts";
import { encoderForward, countFiring, decode, reconstructionLoss, backwardDecoder, encoderBackward, samplePreActivations, targetL0Threshold } from "../step.ts";
import { thresholdCode } from "../selection.ts";
import { detExp } from "../../tensor/det_math.ts";
import { detLog } from "../../tensor/rng.ts";

/** θ = exp(t), rounded to float32 as the parameter it stands for. */
export function thresholdsFrom(logThreshold: Float32Array, out: Float32Array = new Float32Array(logThreshold.length)): Float32Array {
  for (let j = 0; j < logThreshold.length; j++) out[j] = detExp(logThreshold[j]!);
  return out;
}

/** The thresholds of inference parameters, or of training ones (exp of the log-thresholds). */
function inferenceThreshold(p: SAEParams): Float32Array {
  return p.extra?.threshold ?? thresholdsFrom(extraParam(p, "logThreshold"));
}

const LOG_THRESHOLD = { name: "logThreshold", initial: (c: { initialThreshold: number }) => Math.fround(detLog(c.initialThreshold)) };

export const jumprelu: Architecture = {
  recipe: "jumprelu",
  sparsity: "penalty",
  extraParams: [LOG_THRESHOLD],
  subtractDecoderBias: true,
  encoderBias: true,
  unitNormDecoder: false,
  defaults: () => ({
    lr: 3e-4, decoderInitNorm: 1, decoderBiasInit: "geometric-median",
    sparsityCoefficient: 1, sparsityControl: "target-l0", sparsityInit: "target-l0", initialThreshold: 0.01, thresholdBandwidth: 0.05,
  }),
  validate(c) {
    if (!(c.initialThreshold > 0)) throw new Error(`SAE config: jumprelu needs initialThreshold > 0, got ${c.initialThreshold}`);
    if (!(c.thresholdBandwidth > 0)) throw new Error(`SAE config: jumprelu needs thresholdBandwidth > 0, got ${c.thresholdBandwidth}`);
  },
  init(c, sample, rows) {
    const p = tiedInit(c, sample, rows, ["logThreshold"]);
    let initial = LOG_THRESHOLD.initial(c);
    if (c.sparsityInit === "target-l0") {
      const theta = targetL0Threshold(samplePreActivations(p, sample, rows), rows, c.dSae, c.k);
      if (theta > 0) initial = Math.fround(detLog(theta));
    }
    p.extra!.logThreshold!.fill(initial);
    return p;
  },

  step(ctx) {
    const { p, cfg, ws, rows, coefficient: lambda } = ctx;
    const { dIn, dSae } = p;
    const bw = cfg.thresholdBandwidth;
    const logTheta = extraParam(p, "logThreshold");
    const theta = thresholdsFrom(logTheta, ws.buffer("jumprelu.theta", dSae));
    encoderForward(ctx, true, true);
    const code = ws.main;
    code.reset(rows);
    const pre = ws.pre;
    let active = 0;
    for (let r = 0; r < rows; r++) {
      code.reserve(dSae);
      for (let j = 0; j < dSae; j++) {
        const v = pre[r * dSae + j]!, t = theta[j]!;
        if (v > t) {
          code.push(j, v);
          active++;
        } else if (v - t > -bw / 2) code.push(j, 0);
      }
      code.endRow(r);
    }
    const l0 = countFiring(ctx, code);
    decode(code, p.wDec, dIn, p.bDec, ws.xhat, ws);
    const rec = reconstructionLoss(ctx, "row-sum");
    backwardDecoder(code, ws.gOut, p.wDec, dIn, ws.grads.wDec, ws);

    // θ's pseudo-gradient from the entries inside the kernel's window, then ∂L/∂pre = ∂L/∂f·H(pre − θ).
    const gradTheta = ws.buffer("jumprelu.dtheta", dSae).fill(0, 0, dSae);
    const stepTerm = lambda / (rows * bw);
    for (let r = 0; r < rows; r++) {
      for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) {
        const j = code.idx[e]!;
        const t = theta[j]!;
        const u = (pre[r * dSae + j]! - t) / bw;
        if (u > -0.5 && u < 0.5) gradTheta[j] += -(t / bw) * code.grad[e]! - stepTerm;
        if (code.val[e] === 0) code.grad[e] = 0;
      }
    }
    const gradLog = ws.extraGrad("logThreshold");
    for (let j = 0; j < dSae; j++) gradLog[j] = theta[j]! * gradTheta[j]!;
    encoderBackward(ctx, [code], true, true);
    const sparsityLoss = active / rows;
    return { loss: rec.loss + lambda * sparsityLoss, fvu: rec.fvu, mse: rec.mse, auxLoss: 0, sparsityLoss, l0 };
  },

  steerSparsity(p, move) {
    // The controller's step applied to every log-threshold as well: Adam moves them by at most ~lr per step,
    // too slowly to follow the encoder in a short run; this shift does (too many active latents: higher θ).
    const t = extraParam(p, "logThreshold");
    for (let j = 0; j < t.length; j++) t[j] += move;
  },
  inferenceParams(p: SAEParams): SAEParams {
    return { ...p, extra: { threshold: thresholdsFrom(extraParam(p, "logThreshold")) } };
  },
  encodeRows: (sae, pre, rows) => thresholdCode(pre, rows, inferenceThreshold(sae.params)),
  fires: (v) => v > 0,
  deadRule: (rows) => `never active (pre-activation above its threshold) on the ${rows} analysed rows`,

  saelens: {
    architecture: "jumprelu",
    activationFn: "relu",
    encoderBiasName: "b_enc",
    write: (sae) => ({ cfg: {}, tensors: { threshold: extraParam(sae.params, "threshold") } }),
    read: (_cfg, tensor, { dSae }) => ({ threshold: tensor("threshold", [dSae]) }),
  },
};
