/**
 * `gated` — Rajamanoharan et al. 2024, "Improving Dictionary Learning with Gated Sparse Autoencoders", with
 * SAELens's parametrisation (the gate and magnitude paths share W_enc; no decoder-norm constraint, the L1 term
 * weighted by decoder norms as SAELens does):
 *   h = W_enc·(x − b_dec),  π_gate = h + b_gate,  π_mag = exp(r_mag)⊙h + b_mag,
 *   f = [π_gate > 0]·ReLU(π_mag),  x̂ = W_dec·f + b_dec,
 *   loss = (1/B)·Σ‖x̂ − x‖² + λ·(1/B)·Σ_rows Σ_j ReLU(π_gate,j)·‖W_dec[j]‖ + (1/B)·Σ‖x − (W̄_dec·ReLU(π_gate) + b̄_dec)‖²
 *   where the auxiliary reconstruction uses a frozen copy W̄_dec, b̄_dec of the decoder (the paper's stop-gradient:
 *   it trains the gate path only; SAELens lets its gradient reach the decoder too).
 *   Adam(3e-4, 0.9/0.999, ε 1e-8), inputs scaled to E‖x‖² = d_in, unit decoder rows at init, W_enc = W_decᵀ,
 *   r_mag = b_mag = 0, b_gate = −θ₀ (sparsityInit target-l0: the gate's initial L0 is k), λ steered toward L0 = k
 *   and, like jumprelu's thresholds, every gate threshold −b_gate scaled by the controller's steps (steerSparsity:
 *   on synthetic data it brought the final L0 from 27–34% off the target to 4–11%; relu-l1 tracks its target
 *   without it and was worse with it, so it has none).
 * Backward (per active gate entry, g = 2(x̂ − x)/B, g_aux = 2(x̂_aux − x)/B):
 *   ∂π_mag = (g·W_dec[j])·[π_mag > 0];  ∂π_gate = (g_aux·W_dec[j] + λ‖W_dec[j]‖/B);
 *   ∂h = exp(r_mag)·∂π_mag + ∂π_gate;  ∂b_gate = Σ ∂π_gate;  ∂b_mag = Σ ∂π_mag;  ∂r_mag = Σ ∂π_mag·exp(r_mag)·h;
 *   ∂W_dec[j] = Σ f·g + (λ/B)·(Σ ReLU(π_gate))·W_dec[j]/‖W_dec[j]‖.
 * Files: SAELens `gated` (W_enc, b_gate, r_mag, b_mag, W_dec, b_dec; no b_enc).
 */
import type { Architecture } from "./types.ts";
import { tiedInit, extraParam } from "../params.ts";
import { variableWidthCode } from "../selection.ts";
import { detExp } from "../../tensor/det_math.ts";
import { encoderForward, countFiring, decode, reconstructionLoss, backwardDecoder, encoderBackward, decoderNorms, samplePreActivations, targetL0Threshold } from "../step.ts";

/** exp(r_mag) per latent, rounded to float32. */
function magnitudeScales(rMag: Float32Array, out: Float32Array): Float32Array {
  for (let j = 0; j < rMag.length; j++) out[j] = detExp(rMag[j]!);
  return out;
}

export const gated: Architecture = {
  recipe: "gated",
  sparsity: "penalty",
  extraParams: [{ name: "rMag", initial: () => 0 }, { name: "bMag", initial: () => 0 }],
  subtractDecoderBias: true,
  encoderBias: false,
  unitNormDecoder: false,
  defaults: () => ({
    lr: 3e-4, decoderInitNorm: 1, decoderBiasInit: "geometric-median",
    sparsityCoefficient: 5, sparsityControl: "target-l0", sparsityWarmupFraction: 0.05, sparsityInit: "target-l0",
  }),
  init(c, sample, rows) {
    const p = tiedInit(c, sample, rows, ["rMag", "bMag"]);
    if (c.sparsityInit === "target-l0") p.bEnc.fill(-targetL0Threshold(samplePreActivations(p, sample, rows), rows, c.dSae, c.k));
    return p;
  },

  steerSparsity(p, move) {
    // As jumprelu's thresholds: the gate opens at h > −b_gate, so scale that threshold by e^move (≈ 1 + move).
    const b = p.bEnc;
    for (let j = 0; j < b.length; j++) b[j] -= move * Math.abs(b[j]!);
  },

  step(ctx) {
    const { p, ws, x, rows, coefficient: lambda } = ctx;
    const { dIn, dSae } = p;
    const bGate = p.bEnc, rMag = extraParam(p, "rMag"), bMag = extraParam(p, "bMag");
    const scale = magnitudeScales(rMag, ws.buffer("gated.scale", dSae));
    encoderForward(ctx, true, false); // ws.pre = h
    const h = ws.pre;
    const code = ws.main, gate = ws.code("gated.gate");
    code.reset(rows);
    gate.reset(rows);
    for (let r = 0; r < rows; r++) {
      code.reserve(dSae);
      gate.reserve(dSae);
      for (let j = 0; j < dSae; j++) {
        const hv = h[r * dSae + j]!;
        const g = Math.fround(hv + bGate[j]!);
        if (!(g > 0)) continue;
        const mag = Math.fround(Math.fround(scale[j]! * hv) + bMag[j]!);
        code.push(j, mag > 0 ? mag : 0);
        gate.push(j, g);
      }
      code.endRow(r);
      gate.endRow(r);
    }
    const l0 = countFiring(ctx, code);
    decode(code, p.wDec, dIn, p.bDec, ws.xhat, ws);
    const rec = reconstructionLoss(ctx, "row-sum");
    backwardDecoder(code, ws.gOut, p.wDec, dIn, ws.grads.wDec, ws);

    // The auxiliary reconstruction through the frozen decoder: only the gate path learns from it.
    const n = rows * dIn;
    const xAux = ws.buffer("gated.xaux", n), gAux = ws.buffer("gated.gaux", n);
    decode(gate, p.wDec, dIn, p.bDec, xAux, ws);
    let auxSse = 0;
    for (let i = 0; i < n; i++) {
      const dv = xAux[i]! - x[i]!;
      auxSse += dv * dv;
      gAux[i] = (2 / rows) * dv;
    }
    backwardDecoder(gate, gAux, p.wDec, dIn, null, ws);

    const norms = decoderNorms(p, ws.buffer("decoder.norms", dSae));
    const gateSum = ws.buffer("gated.gatesum", dSae).fill(0, 0, dSae);
    const gradBGate = ws.grads.bEnc, gradRMag = ws.extraGrad("rMag"), gradBMag = ws.extraGrad("bMag");
    let penalty = 0;
    for (let r = 0; r < rows; r++) {
      for (let e = code.rowPtr[r]!; e < code.rowPtr[r + 1]!; e++) {
        const j = code.idx[e]!;
        const dMag = code.val[e]! > 0 ? code.grad[e]! : 0;
        const dGate = gate.grad[e]! + (lambda * norms[j]!) / rows;
        gradBMag[j] += dMag;
        gradRMag[j] += dMag * scale[j]! * h[r * dSae + j]!;
        gradBGate[j] += dGate;
        gateSum[j] += gate.val[e]!;
        code.grad[e] = scale[j]! * dMag + dGate; // ∂h
      }
    }
    const gradWDec = ws.grads.wDec;
    for (let j = 0; j < dSae; j++) {
      penalty += gateSum[j]! * norms[j]!;
      if (gateSum[j] === 0 || !(norms[j]! > 0)) continue;
      const s = (lambda / rows) * gateSum[j]! / norms[j]!;
      for (let c = 0; c < dIn; c++) gradWDec[j * dIn + c] += s * p.wDec[j * dIn + c]!;
    }
    encoderBackward(ctx, [code], true, false);
    const sparsityLoss = penalty / rows, auxLoss = auxSse / rows;
    return { loss: rec.loss + lambda * sparsityLoss + auxLoss, fvu: rec.fvu, mse: rec.mse, auxLoss, sparsityLoss, l0 };
  },

  encodeRows(sae, h, rows) {
    const p = sae.params;
    const n = p.dSae;
    const rMag = extraParam(p, "rMag"), bMag = extraParam(p, "bMag");
    const scale = magnitudeScales(rMag, new Float32Array(n));
    return variableWidthCode(rows, n, (r, emit) => {
      for (let j = 0; j < n; j++) {
        const hv = h[r * n + j]!;
        if (!(Math.fround(hv + p.bEnc[j]!) > 0)) continue;
        const mag = Math.fround(Math.fround(scale[j]! * hv) + bMag[j]!);
        if (mag > 0) emit(j, mag);
      }
    });
  },
  fires: (v) => v > 0,
  deadRule: (rows) => `never active (gate open and magnitude > 0) on the ${rows} analysed rows`,

  saelens: {
    architecture: "gated",
    activationFn: "relu",
    encoderBiasName: "b_gate",
    write: (sae) => ({ cfg: {}, tensors: { r_mag: extraParam(sae.params, "rMag"), b_mag: extraParam(sae.params, "bMag") } }),
    read: (_cfg, tensor, { dSae }) => ({ rMag: tensor("r_mag", [dSae]), bMag: tensor("b_mag", [dSae]) }),
  },
};
