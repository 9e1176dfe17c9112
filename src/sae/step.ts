/**
 * The parts every architecture's training step is built from (./arch/*.ts put them together with their own
 * activation, penalty and gradient gates):
 *
 *   encoderForward      x̃ = x − b_dec (or x), pre = x̃·W_encᵀ (+ b_enc) — the one dense O(d·d_sae) product per row
 *   reconstructionLoss  the main loss over x̂ and ∂L/∂x̂ (FVU, per-row sum, or per-element mean)
 *   auxK                Gao et al.'s auxiliary loss: the top-k_aux dead latents reconstruct the residual
 *   encoderBackward     ∂W_enc, ∂b_enc and the b_dec term through x̃, for the codes of the step
 * and the buffers they share (StepWorkspace). Sparse products over the active latents are in ./latent_code.ts.
 */
import { matmul } from "../tensor/matmul.ts";
import { topkRows } from "../tensor/ops.ts";
import type { SAETrainConfig } from "./recipe.ts";
import type { SAEParams } from "./params.ts";
import { LatentCode, DenseScratch, decode, backwardDecoder, backwardEncoder, useWasmKernels, type LatentPath, type ProductContext } from "./latent_code.ts";
import { WasmArena } from "./sparse_wasm.ts";
import { selectBatchTopK } from "./selection.ts";

export interface StepStats {
  /** The objective that was differentiated. */
  loss: number;
  /** Fraction of variance unexplained: Σ(x̂ − x)² / Σ(x − x̄)² over the batch. */
  fvu: number;
  /** Mean squared error per element. */
  mse: number;
  /** AuxK loss (0 when no latent is dead or the recipe has none). */
  auxLoss: number;
  /** The sparsity penalty's value before its coefficient (L1 or L0 per row; 0 for recipes without one). */
  sparsityLoss: number;
  /** Mean number of firing latents per row. */
  l0: number;
}

export interface ParamGrads {
  wEnc: Float32Array;
  bEnc: Float32Array;
  wDec: Float32Array;
  bDec: Float32Array;
  /** Gradients of the architecture's extra per-latent parameters, by name. */
  extra: Record<string, Float32Array>;
}

/**
 * Reusable per-batch buffers, so a training run allocates once (sparse codes grow to the largest batch seen).
 * With the WebAssembly kernels, the [rows, d_in] buffers and the gradients live in their memory (./sparse_wasm.ts).
 */
export class StepWorkspace implements ProductContext {
  readonly arena: WasmArena | null;
  input: Float32Array;
  pre: Float32Array;
  xhat: Float32Array;
  gOut: Float32Array;
  /** The batch's active latents, and AuxK's. */
  readonly main: LatentCode;
  readonly aux: LatentCode;
  readonly dense = new DenseScratch();
  readonly grads: ParamGrads;
  /** Σ over entries of ∂L/∂pre per latent (the b_dec term through x̃, and most architectures' ∂b_enc). */
  readonly dpreSum: Float32Array;
  private gAuxBuffer: Float32Array = new Float32Array(0);
  private codes = new Map<string, LatentCode>();
  private buffers = new Map<string, Float32Array>();
  private copies = new Map<Float32Array, Float32Array>();
  private fresh = new Set<Float32Array>();

  /**
   * `path` forces the dense or sparse products (tests compare them); "auto" picks by density. `kernels` "scalar"
   * forces the TypeScript loops (tests compare them with the WebAssembly ones).
   */
  constructor(readonly config: SAETrainConfig, readonly maxRows: number, readonly path: LatentPath = "auto", kernels: "auto" | "scalar" = "auto") {
    const { dIn, dSae } = config;
    this.arena = kernels === "auto" && useWasmKernels() ? new WasmArena() : null;
    this.input = this.floats(maxRows * dIn);
    this.pre = new Float32Array(maxRows * dSae);
    this.xhat = this.floats(maxRows * dIn);
    this.gOut = this.floats(maxRows * dIn);
    this.main = new LatentCode(dSae, maxRows, maxRows * Math.min(config.k, dSae));
    this.aux = new LatentCode(dSae, maxRows);
    this.dpreSum = new Float32Array(dSae);
    this.grads = {
      wEnc: this.floats(dSae * dIn), bEnc: new Float32Array(dSae),
      wDec: this.floats(dSae * dIn), bDec: new Float32Array(dIn), extra: {},
    };
  }

  /** A float buffer in the kernels' memory (or an ordinary one without it). */
  private floats(length: number): Float32Array {
    return this.arena ? this.arena.floats(length) : new Float32Array(length);
  }

  inArena(a: Float32Array): Float32Array {
    if (!this.arena || this.arena.owns(a)) return a;
    let copy = this.copies.get(a);
    if (!copy || copy.length !== a.length) {
      copy = this.arena.floats(a.length);
      this.copies.set(a, copy);
      this.fresh.delete(a);
    }
    if (!this.fresh.has(a)) {
      copy.set(a);
      this.fresh.add(a);
    }
    return copy;
  }

  /** A [maxRows, d_in] buffer for AuxK's residual and its gradient. */
  gAux(): Float32Array {
    if (this.gAuxBuffer.length === 0) this.gAuxBuffer = this.floats(this.maxRows * this.config.dIn);
    return this.gAuxBuffer;
  }

  /** A further named code (gated's auxiliary path), created on first use. */
  code(name: string): LatentCode {
    let c = this.codes.get(name);
    if (!c) this.codes.set(name, (c = new LatentCode(this.config.dSae, this.maxRows)));
    return c;
  }

  /** A named float scratch buffer of at least `size` elements, created on first use. */
  buffer(name: string, size: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.length < size) this.buffers.set(name, (b = this.floats(size)));
    return b;
  }

  /** The gradient of an extra parameter (zeroed with the others at the start of every step). */
  extraGrad(name: string): Float32Array {
    return (this.grads.extra[name] ??= new Float32Array(this.config.dSae));
  }

  /** Start a step: gradients to zero, parameter copies stale. */
  zeroGrads(): void {
    this.fresh.clear();
    const g = this.grads;
    g.wEnc.fill(0); g.bEnc.fill(0); g.wDec.fill(0); g.bDec.fill(0);
    for (const a of Object.values(g.extra)) a.fill(0);
    this.dpreSum.fill(0);
  }
}

export interface StepContext {
  readonly p: SAEParams;
  readonly cfg: SAETrainConfig;
  readonly ws: StepWorkspace;
  /** The batch [rows, d_in], already scaled. */
  readonly x: Float32Array;
  readonly rows: number;
  /** Latents dead for AuxK (1 = dead), or null. */
  readonly dead: Uint8Array | null;
  /** Receives 1 for every latent that fired in this batch. */
  readonly fired?: Uint8Array;
  /** The sparsity coefficient λ in force at this step (penalty recipes). */
  readonly coefficient: number;
  /** The architecture's training buffers (BatchTopK's running threshold), read and updated in place. */
  readonly buffers: Record<string, number>;
}

export class DivergedForward extends RangeError {
  override name = "DivergedForward";
}

/**
 * x̃ into ws.input and pre = x̃·W_encᵀ (+ b_enc) into ws.pre; fails on NaN (the weights have diverged). The bias
 * is added after the product, in the same pass that looks for NaN.
 */
export function encoderForward(ctx: StepContext, subtractDecoderBias: boolean, withBias: boolean): void {
  const { p, ws, x, rows } = ctx;
  const { dIn, dSae } = p;
  const input = ws.input;
  if (subtractDecoderBias) for (let r = 0; r < rows; r++) for (let c = 0; c < dIn; c++) input[r * dIn + c] = x[r * dIn + c]! - p.bDec[c]!;
  else input.set(x.subarray(0, rows * dIn));
  const pre = ws.pre;
  matmul({ a: input, b: p.wEnc, c: pre, m: rows, n: dSae, k: dIn, transB: true });
  const bias = p.bEnc;
  let bad = -1;
  for (let r = 0; r < rows; r++) {
    const o = r * dSae;
    if (withBias) for (let j = 0; j < dSae; j++) pre[o + j] += bias[j]!;
    for (let j = 0; j < dSae; j++) if (pre[o + j] !== pre[o + j]) bad = r;
    if (bad >= 0) throw new DivergedForward(`SAE forward produced NaN pre-activations (row ${bad}); the weights have diverged`);
  }
}

/** Sum of squared deviations from the column means of a [rows, d] matrix (the FVU denominator); two row-major passes. */
export function totalVariance(x: Float32Array, rows: number, d: number): number {
  const mean = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    for (let j = 0; j < d; j++) mean[j] += x[o + j]!;
  }
  for (let j = 0; j < d; j++) mean[j] /= rows;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    for (let j = 0; j < d; j++) {
      const c = x[o + j]! - mean[j]!;
      total += c * c;
    }
  }
  return total;
}

/**
 * How the reconstruction error is normalised: "fvu" Σ(x̂ − x)² / Σ(x − x̄)² (Gao et al.), "row-sum" Σ(x̂ − x)² / B
 * (SAELens and dictionary_learning: squared error summed over d_in, averaged over rows), "mean" Σ(x̂ − x)² / (B·d_in).
 */
export type ReconstructionLoss = "fvu" | "row-sum" | "mean";

export interface Reconstruction {
  loss: number;
  fvu: number;
  mse: number;
}

/**
 * Main loss of x̂ (ws.xhat, or `xhat`) against the batch; writes ∂L/∂x̂ into `g` (default ws.gOut) and adds its
 * column sums to ∂b_dec (x̂ = … + b_dec). `variance` can be passed when already known (Matryoshka's levels).
 */
export function reconstructionLoss(ctx: StepContext, kind: ReconstructionLoss, xhat = ctx.ws.xhat, g = ctx.ws.gOut, variance = totalVariance(ctx.x, ctx.rows, ctx.p.dIn)): Reconstruction {
  const { x, rows, p, ws } = ctx;
  const d = p.dIn, n = rows * d;
  const gb = ws.grads.bDec;
  const scaleFvu = variance > 0 ? 2 / variance : 0;
  const scale = kind === "fvu" ? scaleFvu : kind === "row-sum" ? 2 / rows : 2 / n;
  // One pass: the squared error, ∂L/∂x̂ = scale·(x̂ − x), and its column sums into ∂b_dec.
  let sse = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    for (let c = 0; c < d; c++) {
      const diff = xhat[o + c]! - x[o + c]!;
      sse += diff * diff;
      const gv = Math.fround(scale * diff);
      g[o + c] = gv;
      gb[c] += gv;
    }
  }
  const fvu = variance > 0 ? sse / variance : 0;
  const mse = sse / n;
  const loss = kind === "fvu" ? fvu : kind === "row-sum" ? sse / rows : mse;
  return { loss, fvu, mse };
}

/**
 * AuxK (Gao et al. 2024, appendix B.1): the top-k_aux dead latents of each row (by pre-activation, ReLU'd)
 * reconstruct the detached residual e = x − x̂ without the bias; loss = Σ(e − ê)² / Σ(e − ē)², weighted by the
 * auxiliary coefficient. Backpropagates into W_dec and the aux code's ∂L/∂pre (ws.aux, to be passed to
 * encoderBackward). Returns the unweighted aux loss (0 when nothing is dead).
 */
export function auxK(ctx: StepContext): number {
  const { p, cfg, ws, x, rows, dead } = ctx;
  const code = ws.aux;
  code.reset(rows);
  if (!dead || cfg.kAux <= 0 || cfg.auxCoefficient <= 0) return 0;
  const { dIn, dSae } = p;
  let nDead = 0;
  for (let j = 0; j < dSae; j++) nDead += dead[j]!;
  const kA = Math.min(cfg.kAux, nDead);
  if (kA === 0) return 0;
  const deadIds = new Int32Array(nDead);
  for (let j = 0, t = 0; j < dSae; j++) if (dead[j]) deadIds[t++] = j;
  // Top-k_aux among the dead latents of each row: gathered in latent order, so ties keep the lower latent.
  const gathered = ws.buffer("aux.gathered", nDead);
  const topVal = ws.buffer("aux.values", kA);
  const topPos = new Int32Array(kA);
  const pre = ws.pre;
  code.reserve(rows * kA);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < nDead; t++) gathered[t] = pre[r * dSae + deadIds[t]!]!;
    topkRows(gathered, 1, nDead, kA, topVal, topPos);
    for (let s = 0; s < kA; s++) if (topVal[s]! > 0) code.push(deadIds[topPos[s]!]!, topVal[s]!);
    code.endRow(r);
  }
  // q = e − ê with e = x − x̂ and ê = Σ ReLU(aux)·W_dec (no bias).
  const q = ws.gAux();
  const n = rows * dIn;
  for (let i = 0; i < n; i++) q[i] = x[i]! - ws.xhat[i]!;
  const eVariance = totalVariance(q, rows, dIn);
  const ehat = ws.buffer("aux.ehat", n);
  decode(code, p.wDec, dIn, null, ehat, ws);
  let auxSse = 0;
  for (let i = 0; i < n; i++) {
    const v = q[i]! - ehat[i]!;
    q[i] = v;
    auxSse += v * v;
  }
  const auxLoss = eVariance > 0 ? auxSse / eVariance : 0;
  // ∂(α·L_aux)/∂ê = −2α·q / Var(e): reuse q's buffer for the gradient.
  const scale = eVariance > 0 ? (-2 * cfg.auxCoefficient) / eVariance : 0;
  for (let i = 0; i < n; i++) q[i] *= scale;
  backwardDecoder(code, q, p.wDec, dIn, ws.grads.wDec, ws);
  // Every aux entry is positive: ReLU passes its gradient.
  return auxLoss;
}

/**
 * Encoder gradients from the codes' ∂L/∂pre (in each code's `grad`): ∂W_enc += Σ ∂pre·x̃, ws.dpreSum += Σ ∂pre,
 * ∂b_enc = dpreSum when `encoderBias` (pre includes b_enc), and when the encoder saw x̃ = x − b_dec,
 * ∂b_dec −= Σ_j dpreSum[j]·W_enc[j] (grouped by latent: one pass over the latents per step).
 */
export function encoderBackward(ctx: StepContext, codes: LatentCode[], subtractDecoderBias: boolean, encoderBias: boolean): void {
  const { p, ws } = ctx;
  for (const code of codes) backwardEncoder(code, ws.input, p.dIn, ws.grads.wEnc, ws.dpreSum, ws);
  if (encoderBias) ws.grads.bEnc.set(ws.dpreSum);
  if (!subtractDecoderBias) return;
  const { dIn, dSae, wEnc } = p;
  const gradBDec = ws.grads.bDec, sum = ws.dpreSum;
  for (let j = 0; j < dSae; j++) {
    const s = sum[j]!;
    if (s === 0) continue;
    const w = j * dIn;
    for (let c = 0; c < dIn; c++) gradBDec[c] -= s * wEnc[w + c]!;
  }
}

/**
 * Per-row Top-K of ws.pre into ws.main: the k largest pre-activations of each row (ties: the lower latent). With
 * `relu`, entries ≤ 0 are dropped (ReLU makes them 0 and passes no gradient); without, every kept value stays.
 */
export function rowTopK(ctx: StepContext, k: number, relu: boolean): LatentCode {
  const { ws, rows } = ctx;
  const n = ctx.p.dSae;
  const code = ws.main;
  code.reset(rows);
  code.reserve(rows * k);
  const values = ws.buffer("topk.values", k);
  const positions = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    topkRows(ws.pre.subarray(r * n, (r + 1) * n), 1, n, k, values, positions);
    for (let s = 0; s < k; s++) {
      const v = values[s]!;
      if (!relu || v > 0) code.push(positions[s]!, v);
    }
    code.endRow(r);
  }
  return code;
}

/** Record firing latents (val > 0, or every entry when `everyEntry`) and return the mean count per row. */
export function countFiring(ctx: StepContext, code: LatentCode, everyEntry = false): number {
  let firing = 0;
  const fired = ctx.fired;
  for (let e = 0; e < code.nnz; e++) {
    if (!everyEntry && !(code.val[e]! > 0)) continue;
    firing++;
    if (fired) fired[code.idx[e]!] = 1;
  }
  return firing / ctx.rows;
}

/** Pre-activations W_enc·(x − b_dec) + b_enc of an initialisation sample (for data-driven initial thresholds). */
export function samplePreActivations(p: SAEParams, sample: Float32Array, rows: number): Float32Array {
  const { dIn, dSae } = p;
  const input = new Float32Array(rows * dIn);
  for (let r = 0; r < rows; r++) for (let c = 0; c < dIn; c++) input[r * dIn + c] = sample[r * dIn + c]! - p.bDec[c]!;
  const pre = new Float32Array(rows * dSae);
  matmul({ a: input, b: p.wEnc, c: pre, m: rows, n: dSae, k: dIn, transB: true });
  for (let r = 0; r < rows; r++) for (let j = 0; j < dSae; j++) pre[r * dSae + j] += p.bEnc[j]!;
  return pre;
}

/**
 * sparsityInit "target-l0": the one threshold θ₀ at which the sample's mean L0 is k — the (k·rows)-th largest
 * pre-activation of the sample (see selectBatchTopK). `pre` is consumed.
 */
export function targetL0Threshold(pre: Float32Array, rows: number, dSae: number, k: number): number {
  return selectBatchTopK(pre, rows, dSae, k * rows, new LatentCode(dSae, rows));
}

/** L2 norm of every decoder row. */
export function decoderNorms(p: SAEParams, out: Float32Array = new Float32Array(p.dSae)): Float32Array {
  const { dIn, dSae, wDec } = p;
  for (let j = 0; j < dSae; j++) {
    let s = 0;
    for (let c = 0; c < dIn; c++) s += wDec[j * dIn + c]! * wDec[j * dIn + c]!;
    out[j] = Math.sqrt(s);
  }
  return out;
}

export { decode, backwardDecoder };
