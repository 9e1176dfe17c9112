/**
 * One training step of a Top-K SAE: forward, loss, hand-derived sparse backward, decoder-gradient projection,
 * Adam, decoder renormalisation. The dense encoder matmul (rows × d_sae × d_in) is the only O(n·d) work per
 * row; the decoder forward and both backward passes touch only the k (+ k_aux) active latents of each row —
 * except for small dictionaries, where three dense matmuls are faster (see latentPath).
 *
 * Gradients, for x̂ = b_dec + Σ_j z_j·W_dec[j] and pre = W_enc·x̃ + b_enc (x̃ = x − b_dec for topk, x otherwise):
 *   ∂L/∂b_dec  += Σ_rows g            (g = ∂L/∂x̂)
 *   ∂L/∂W_dec[j] += z_j·g             ∂L/∂z_j = g·W_dec[j]
 *   ∂L/∂pre_j  = ∂L/∂z_j · [pre_j > 0 for topk | 1 for seed-report]   (only for kept latents)
 *   ∂L/∂W_enc[j] += ∂L/∂pre_j · x̃,   ∂L/∂b_enc[j] += ∂L/∂pre_j,   ∂L/∂b_dec −= ∂L/∂pre_j · W_enc[j]  (topk only)
 * AuxK adds the same terms for the auxiliary reconstruction ê = Σ_aux z·W_dec (no bias) of the detached residual.
 */
import { matmul } from "../tensor/matmul.ts";
import { topkRows } from "../tensor/ops.ts";
import type { SAETrainConfig } from "./config.ts";
import { normaliseRows, type SAEParams } from "./sae.ts";
import { AdamState, adamUpdate } from "./adam.ts";

export interface StepStats {
  /** The objective that was differentiated. */
  loss: number;
  /** Fraction of variance unexplained: Σ(x̂ − x)² / Σ(x − x̄)² over the batch. */
  fvu: number;
  /** Mean squared error per element. */
  mse: number;
  /** AuxK loss (0 when no latent is dead or for seed-report). */
  auxLoss: number;
  /** Mean number of firing latents per row. */
  l0: number;
}

export interface ParamGrads {
  wEnc: Float32Array;
  bEnc: Float32Array;
  wDec: Float32Array;
  bDec: Float32Array;
}

/**
 * How the decoder and the backward pass handle the latents. "sparse" touches only the k kept latents of a row,
 * in JavaScript loops: 3·k·d multiply-adds per row. "dense" writes the codes into a [rows, d_sae] matrix that is
 * mostly zeros and uses three matmuls: 3·d_sae·d per row, but in the WebAssembly SIMD kernel, ~40× faster per
 * operation. Dense therefore wins for small dictionaries (d_sae ≤ 16·k; measured on one thread: n 128, k 32
 * trains 2.4× faster dense, n 512, k 32 1.1–1.25×, while at d_sae = 32·k sparse is 1.15–1.3× faster). Both
 * compute the same gradients (tested against each other); the choice depends only on (d_sae, k), so a
 * configuration always takes the same path and stays bit-reproducible.
 */
export const DENSE_LATENTS_MAX_RATIO = 16;

export function latentPath(dSae: number, k: number): "dense" | "sparse" {
  return dSae <= DENSE_LATENTS_MAX_RATIO * k ? "dense" : "sparse";
}

/** Reusable per-batch buffers, so a training run allocates once. */
export class StepWorkspace {
  input: Float32Array;
  pre: Float32Array;
  idx: Int32Array;
  val: Float32Array;
  xhat: Float32Array;
  gOut: Float32Array;
  auxIdx: Int32Array;
  auxVal: Float32Array;
  auxPre: Float32Array;
  gAux: Float32Array;
  /** Dense-path buffers [rows, dSae] (empty on the sparse path): the latent codes and their gradients. */
  z: Float32Array;
  dz: Float32Array;
  readonly grads: ParamGrads;

  /** `path` defaults to latentPath(d_sae, k); tests pass both to check one against the other. */
  constructor(readonly config: SAETrainConfig, readonly maxRows: number, readonly path: "dense" | "sparse" = latentPath(config.dSae, config.k)) {
    const { dIn, dSae, k } = config;
    const kAux = Math.min(config.kAux, dSae);
    this.input = new Float32Array(maxRows * dIn);
    this.pre = new Float32Array(maxRows * dSae);
    this.idx = new Int32Array(maxRows * k);
    this.val = new Float32Array(maxRows * k);
    this.xhat = new Float32Array(maxRows * dIn);
    this.gOut = new Float32Array(maxRows * dIn);
    this.auxIdx = new Int32Array(maxRows * kAux);
    this.auxVal = new Float32Array(maxRows * kAux);
    this.auxPre = new Float32Array(kAux > 0 ? maxRows * dSae : 0);
    this.gAux = new Float32Array(kAux > 0 ? maxRows * dIn : 0);
    const dense = path === "dense";
    this.z = new Float32Array(dense ? maxRows * dSae : 0);
    this.dz = new Float32Array(dense ? maxRows * dSae : 0);
    this.grads = {
      wEnc: new Float32Array(dSae * dIn), bEnc: new Float32Array(dSae),
      wDec: new Float32Array(dSae * dIn), bDec: new Float32Array(dIn),
    };
  }
}

function zeroGrads(g: ParamGrads): void {
  g.wEnc.fill(0); g.bEnc.fill(0); g.wDec.fill(0); g.bDec.fill(0);
}

/** Sum of squared deviations from the column means of a [rows, d] matrix (the FVU denominator). */
function totalVariance(x: Float32Array, rows: number, d: number): number {
  let total = 0;
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += x[r * d + j]!;
    mean /= rows;
    for (let r = 0; r < rows; r++) {
      const c = x[r * d + j]! - mean;
      total += c * c;
    }
  }
  return total;
}

/**
 * Backward through one set of kept latents: given g [rows, dIn] = ∂L/∂(Σ z·W_dec), accumulate decoder and
 * encoder gradients for the latents in (idx, val), whose activations were `act(val)`.
 */
function backwardThroughLatents(
  p: SAEParams, cfg: SAETrainConfig, ws: StepWorkspace, rows: number, kk: number,
  idx: Int32Array, val: Float32Array, g: Float32Array,
): void {
  const { dIn } = p;
  // Locals, so the inner loops index plain typed arrays (V8 keeps them in registers).
  const wDec = p.wDec, gradWDec = ws.grads.wDec, gradWEnc = ws.grads.wEnc, gradBEnc = ws.grads.bEnc, input = ws.input;
  const relu = cfg.recipe === "topk";
  const tail = dIn - (dIn % 4);
  for (let r = 0; r < rows; r++) {
    const go = r * dIn;
    for (let s = 0; s < kk; s++) {
      const pre = val[r * kk + s]!;
      const z = relu ? (pre > 0 ? pre : 0) : pre;
      const j = idx[r * kk + s]!;
      const w = j * dIn;
      // One pass over the row: ∂L/∂z_j = g·W_dec[j] (four partial sums, a fixed order) and ∂L/∂W_dec[j] += z·g.
      let dz0 = 0, dz1 = 0, dz2 = 0, dz3 = 0;
      let c = 0;
      for (; c < tail; c += 4) {
        const g0 = g[go + c]!, g1 = g[go + c + 1]!, g2 = g[go + c + 2]!, g3 = g[go + c + 3]!;
        dz0 += g0 * wDec[w + c]!;
        dz1 += g1 * wDec[w + c + 1]!;
        dz2 += g2 * wDec[w + c + 2]!;
        dz3 += g3 * wDec[w + c + 3]!;
        gradWDec[w + c] += z * g0;
        gradWDec[w + c + 1] += z * g1;
        gradWDec[w + c + 2] += z * g2;
        gradWDec[w + c + 3] += z * g3;
      }
      for (; c < dIn; c++) {
        dz0 += g[go + c]! * wDec[w + c]!;
        gradWDec[w + c] += z * g[go + c]!;
      }
      const dz = (dz0 + dz1) + (dz2 + dz3);
      const dpre = relu && !(pre > 0) ? 0 : dz;
      if (dpre === 0) continue;
      gradBEnc[j] += dpre;
      for (let c2 = 0; c2 < dIn; c2++) gradWEnc[w + c2] += dpre * input[go + c2]!;
    }
  }
}

/** The dense path's decoder forward: x̂ = b_dec + Z·W_dec, Z [rows, d_sae] already holding act(val) at the kept latents. */
function decodeDense(p: SAEParams, ws: StepWorkspace, rows: number): void {
  const { dIn, dSae } = p;
  for (let r = 0; r < rows; r++) ws.xhat.set(p.bDec, r * dIn);
  matmul({ a: ws.z, b: p.wDec, c: ws.xhat, m: rows, n: dIn, k: dSae, accumulate: true });
}

/**
 * The dense path's backward through the kept latents (same gradients as backwardThroughLatents):
 *   ∂L/∂W_dec += Zᵀ·g;   ∂L/∂Z = g·W_decᵀ, kept only where a latent was kept (and, for topk, pre > 0);
 *   ∂L/∂W_enc += (∂L/∂pre)ᵀ·x̃;   ∂L/∂b_enc += column sums of ∂L/∂pre.
 */
function backwardDense(p: SAEParams, cfg: SAETrainConfig, ws: StepWorkspace, rows: number, g: Float32Array): void {
  const { dIn, dSae } = p;
  const k = cfg.k;
  const relu = cfg.recipe === "topk";
  const G = ws.grads;
  matmul({ a: ws.z, b: g, c: G.wDec, m: dSae, n: dIn, k: rows, transA: true, accumulate: true });
  const dzAll = ws.dz;
  matmul({ a: g, b: p.wDec, c: dzAll, m: rows, n: dSae, k: dIn, transB: true });
  // Reuse z's buffer for ∂L/∂pre: zero except at the kept latents that pass the gate.
  const dpre = ws.z;
  dpre.fill(0, 0, rows * dSae);
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < k; s++) {
      if (relu && !(ws.val[r * k + s]! > 0)) continue;
      const at = r * dSae + ws.idx[r * k + s]!;
      dpre[at] = dzAll[at]!;
      G.bEnc[ws.idx[r * k + s]!] += dzAll[at]!;
    }
  }
  matmul({ a: dpre, b: ws.input, c: G.wEnc, m: dSae, n: dIn, k: rows, transA: true, accumulate: true });
}

/**
 * The topk recipe's encoder sees x − b_dec, so b_dec also gets −Σ dpre·W_enc[j] over every (row, active latent).
 * Grouped by latent that sum is −Σ_j (∂L/∂b_enc[j])·W_enc[j]: one pass over the latents per batch instead of one
 * per active (row, latent) pair. Call once, after every backwardThroughLatents of the step.
 */
function addDecoderBiasThroughEncoder(p: SAEParams, ws: StepWorkspace): void {
  const { dIn, dSae, wEnc } = p;
  const gradBEnc = ws.grads.bEnc, gradBDec = ws.grads.bDec;
  for (let j = 0; j < dSae; j++) {
    const dpreSum = gradBEnc[j]!;
    if (dpreSum === 0) continue;
    const w = j * dIn;
    for (let c = 0; c < dIn; c++) gradBDec[c] -= dpreSum * wEnc[w + c]!;
  }
}

/**
 * Forward + backward for a batch x [rows, dIn] (already scaled). Fills ws.grads and returns the statistics.
 * `dead` marks latents that are dead for AuxK (topk recipe); `firedOut`, if given, receives 1 for every latent
 * that fired in this batch.
 */
export function lossAndGradients(p: SAEParams, cfg: SAETrainConfig, ws: StepWorkspace, x: Float32Array, rows: number, dead: Uint8Array | null, firedOut?: Uint8Array): StepStats {
  const { dIn, dSae } = p;
  const k = cfg.k;
  const topk = cfg.recipe === "topk";
  zeroGrads(ws.grads);

  // Forward: x̃, pre-activations (the dense part), top-k, sparse decode.
  const input = ws.input;
  if (topk) for (let r = 0; r < rows; r++) for (let c = 0; c < dIn; c++) input[r * dIn + c] = x[r * dIn + c]! - p.bDec[c]!;
  else input.set(x.subarray(0, rows * dIn));
  const pre = ws.pre;
  for (let r = 0; r < rows; r++) pre.set(p.bEnc, r * dSae);
  matmul({ a: input, b: p.wEnc, c: pre, m: rows, n: dSae, k: dIn, transB: true, accumulate: true });
  for (let i = 0; i < rows * dSae; i++) if (pre[i] !== pre[i]) throw new RangeError(`SAE forward produced NaN pre-activations (row ${Math.floor(i / dSae)}); the weights have diverged`);
  topkRows(pre, rows, dSae, k, ws.val, ws.idx);

  // One pass over the kept latents: count firing, and either decode sparsely or fill the dense code matrix Z.
  const dense = ws.path === "dense";
  if (dense) ws.z.fill(0, 0, rows * dSae);
  let firing = 0;
  const xhat = ws.xhat;
  for (let r = 0; r < rows; r++) {
    const o = r * dIn;
    if (!dense) xhat.set(p.bDec, o);
    for (let s = 0; s < k; s++) {
      const v = ws.val[r * k + s]!;
      const z = topk ? (v > 0 ? v : 0) : v;
      const j = ws.idx[r * k + s]!;
      if (topk ? v > 0 : true) {
        firing++;
        if (firedOut) firedOut[j] = 1;
      }
      if (dense) {
        ws.z[r * dSae + j] = z;
        continue;
      }
      if (z === 0) continue;
      const w = j * dIn;
      for (let c = 0; c < dIn; c++) xhat[o + c] += z * p.wDec[w + c]!;
    }
  }
  if (dense) decodeDense(p, ws, rows);

  // Main loss and ∂L/∂x̂.
  let sse = 0;
  for (let i = 0; i < rows * dIn; i++) {
    const d = xhat[i]! - x[i]!;
    sse += d * d;
  }
  const variance = totalVariance(x, rows, dIn);
  const fvu = variance > 0 ? sse / variance : 0;
  const mse = sse / (rows * dIn);
  const mainScale = topk ? (variance > 0 ? 2 / variance : 0) : 2 / (rows * dIn);
  const gOut = ws.gOut;
  for (let i = 0; i < rows * dIn; i++) gOut[i] = mainScale * (xhat[i]! - x[i]!);
  for (let r = 0; r < rows; r++) for (let c = 0; c < dIn; c++) ws.grads.bDec[c] += gOut[r * dIn + c]!;
  if (dense) backwardDense(p, cfg, ws, rows, gOut);
  else backwardThroughLatents(p, cfg, ws, rows, k, ws.idx, ws.val, gOut);
  let loss = topk ? fvu : mse;

  // AuxK: the top-k_aux dead latents reconstruct the (detached) residual e = x − x̂.
  let auxLoss = 0;
  let nDead = 0;
  if (topk && dead && cfg.kAux > 0 && cfg.auxCoefficient > 0) {
    for (let j = 0; j < dSae; j++) nDead += dead[j]!;
    const kA = Math.min(cfg.kAux, nDead);
    if (kA > 0) {
      const auxPre = ws.auxPre;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < dSae; j++) auxPre[r * dSae + j] = dead[j] ? pre[r * dSae + j]! : -Infinity;
      }
      topkRows(auxPre, rows, dSae, kA, ws.auxVal, ws.auxIdx);
      // q = e − ê with e = x − x̂ and ê = Σ ReLU(aux)·W_dec (no bias).
      const q = ws.gAux;
      for (let i = 0; i < rows * dIn; i++) q[i] = x[i]! - xhat[i]!;
      const eVariance = totalVariance(q, rows, dIn);
      for (let r = 0; r < rows; r++) {
        for (let s = 0; s < kA; s++) {
          const v = ws.auxVal[r * kA + s]!;
          if (!(v > 0)) continue;
          const w = ws.auxIdx[r * kA + s]! * dIn;
          for (let c = 0; c < dIn; c++) q[r * dIn + c] -= v * p.wDec[w + c]!;
        }
      }
      let auxSse = 0;
      for (let i = 0; i < rows * dIn; i++) auxSse += q[i]! * q[i]!;
      auxLoss = eVariance > 0 ? auxSse / eVariance : 0;
      loss += cfg.auxCoefficient * auxLoss;
      // ∂(α·L_aux)/∂ê = −2α·q / Var(e): reuse q's buffer for the gradient.
      const scale = eVariance > 0 ? (-2 * cfg.auxCoefficient) / eVariance : 0;
      for (let i = 0; i < rows * dIn; i++) q[i] *= scale;
      backwardThroughLatents(p, cfg, ws, rows, kA, ws.auxIdx, ws.auxVal, q);
    }
  }
  if (topk) addDecoderBiasThroughEncoder(p, ws);
  return { loss, fvu, mse, auxLoss, l0: firing / rows };
}

/** Remove from each decoder row's gradient its component along that (unit-norm) row. */
export function projectDecoderGradient(p: SAEParams, g: Float32Array): void {
  const { dIn, dSae, wDec } = p;
  for (let j = 0; j < dSae; j++) {
    const o = j * dIn;
    let dot = 0;
    for (let c = 0; c < dIn; c++) dot += g[o + c]! * wDec[o + c]!;
    if (dot === 0) continue;
    for (let c = 0; c < dIn; c++) g[o + c] -= dot * wDec[o + c]!;
  }
}

/** Adam moments for every parameter tensor. */
export class OptimizerState {
  step = 0;
  readonly wEnc: AdamState;
  readonly bEnc: AdamState;
  readonly wDec: AdamState;
  readonly bDec: AdamState;

  constructor(dIn: number, dSae: number) {
    this.wEnc = new AdamState(dSae * dIn);
    this.bEnc = new AdamState(dSae);
    this.wDec = new AdamState(dSae * dIn);
    this.bDec = new AdamState(dIn);
  }
}

/** Apply the recipe's update given gradients in ws.grads: projection, Adam, renormalisation. */
export function applyUpdate(p: SAEParams, cfg: SAETrainConfig, ws: StepWorkspace, opt: OptimizerState): void {
  const g = ws.grads;
  if (cfg.recipe === "topk") projectDecoderGradient(p, g.wDec);
  opt.step += 1;
  const h = { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps };
  adamUpdate(p.wEnc, g.wEnc, opt.wEnc, opt.step, h);
  adamUpdate(p.bEnc, g.bEnc, opt.bEnc, opt.step, h);
  adamUpdate(p.wDec, g.wDec, opt.wDec, opt.step, h);
  adamUpdate(p.bDec, g.bDec, opt.bDec, opt.step, h);
  if (cfg.recipe === "topk") normaliseRows(p.wDec, p.dSae, p.dIn);
}
