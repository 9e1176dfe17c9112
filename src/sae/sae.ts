/**
 * A Top-K sparse autoencoder's parameters, its initialisation per recipe, and inference (encode/decode).
 *
 * Storage: both weight matrices are kept latent-major, [d_sae, d_in]: row j of `wEnc` is latent j's encoder
 * direction (PyTorch nn.Linear's `encoder.weight` layout, SAELens's W_enc transposed) and row j of `wDec` its
 * decoder direction (SAELens's W_dec). Latent-major rows make every sparse operation — the k active latents'
 * decoder rows, their encoder-gradient rows — a contiguous run of memory. Files convert at the boundary.
 */
import { Rng } from "../tensor/rng.ts";
import { matmul } from "../tensor/matmul.ts";
import { topkRows } from "../tensor/ops.ts";
import type { Recipe, SAETrainConfig } from "./config.ts";

export interface SAEParams {
  dIn: number;
  dSae: number;
  wEnc: Float32Array; // [dSae, dIn]
  bEnc: Float32Array; // [dSae]
  wDec: Float32Array; // [dSae, dIn]
  bDec: Float32Array; // [dIn]
}

export interface SAE {
  recipe: Recipe;
  k: number;
  params: SAEParams;
  /** Inputs are multiplied by this before encoding (1 when activations are not normalised). */
  inputScale: number;
}

export function allocateParams(dIn: number, dSae: number): SAEParams {
  return {
    dIn, dSae,
    wEnc: new Float32Array(dSae * dIn),
    bEnc: new Float32Array(dSae),
    wDec: new Float32Array(dSae * dIn),
    bDec: new Float32Array(dIn),
  };
}

/** Scale every row of a [rows, d] matrix to unit L2 norm (rows of zeros are left as they are). */
export function normaliseRows(m: Float32Array, rows: number, d: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += m[o + j]! * m[o + j]!;
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) m[o + j] *= inv;
  }
}

/**
 * Geometric median by Weiszfeld's iteration (deterministic: fixed start at the mean, fixed iteration count
 * with an early stop on a fixed tolerance). Gao et al. initialise b_dec with it.
 */
export function geometricMedian(rows: Float32Array, n: number, d: number, iterations = 100): Float32Array {
  const y = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) y[j] += rows[r * d + j]!;
  for (let j = 0; j < d; j++) y[j] /= Math.max(n, 1);
  const next = new Float64Array(d);
  for (let it = 0; it < iterations; it++) {
    next.fill(0);
    let wsum = 0;
    for (let r = 0; r < n; r++) {
      let dist = 0;
      for (let j = 0; j < d; j++) {
        const diff = rows[r * d + j]! - y[j]!;
        dist += diff * diff;
      }
      const w = 1 / Math.max(Math.sqrt(dist), 1e-8);
      wsum += w;
      for (let j = 0; j < d; j++) next[j] += w * rows[r * d + j]!;
    }
    let shift = 0;
    for (let j = 0; j < d; j++) {
      const v = next[j]! / wsum;
      shift += (v - y[j]!) ** 2;
      y[j] = v;
    }
    if (shift < 1e-12) break;
  }
  return Float32Array.from(y);
}

/** Mean of the rows. */
export function rowMean(rows: Float32Array, n: number, d: number): Float32Array {
  const m = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) m[j] += rows[r * d + j]!;
  return Float32Array.from(m, (v) => v / Math.max(n, 1));
}

/**
 * Fresh parameters for a recipe, drawn from streams keyed by the run's seed. `sample` (already scaled
 * inputs, [sampleRows, dIn]) is used by the topk recipe's b_dec initialisation.
 */
export function initialiseParams(config: SAETrainConfig, sample: Float32Array, sampleRows: number): SAEParams {
  const { dIn, dSae, seed } = config;
  const p = allocateParams(dIn, dSae);
  if (config.recipe === "topk") {
    Rng.stream(seed, "sae/init/W_dec").fillNormal(p.wDec);
    normaliseRows(p.wDec, dSae, dIn);
    p.wEnc.set(p.wDec); // W_enc = W_decᵀ (both stored latent-major)
    if (config.decoderBiasInit === "geometric-median") p.bDec.set(geometricMedian(sample, sampleRows, dIn));
    else if (config.decoderBiasInit === "mean") p.bDec.set(rowMean(sample, sampleRows, dIn));
  } else {
    // PyTorch nn.Linear(d_in, d_sae) default init: weight and bias ~ U(−1/√fan_in, 1/√fan_in).
    const bound = 1 / Math.sqrt(dIn);
    Rng.stream(seed, "sae/init/W_enc").fillUniform(p.wEnc, -bound, bound);
    Rng.stream(seed, "sae/init/b_enc").fillUniform(p.bEnc, -bound, bound);
    p.wDec.set(p.wEnc); // decoder.weight = encoder.weightᵀ
  }
  return p;
}

export interface SparseCode {
  rows: number;
  k: number;
  /** Latent ids of the k kept entries per row, in descending order of pre-activation. */
  indices: Int32Array;
  /** Their activations (after the recipe's non-linearity). */
  values: Float32Array;
}

/** Pre-activations [rows, dSae] for (already scaled) inputs: W_enc·(x − b_dec) + b_enc, or W_enc·x + b_enc. */
export function preActivations(sae: SAE, x: Float32Array, rows: number, out = new Float32Array(rows * sae.params.dSae)): Float32Array {
  const { dIn, dSae, wEnc, bEnc, bDec } = sae.params;
  let input = x;
  if (sae.recipe === "topk") {
    input = new Float32Array(rows * dIn);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dIn; j++) input[r * dIn + j] = x[r * dIn + j]! - bDec[j]!;
  }
  for (let r = 0; r < rows; r++) out.set(bEnc, r * dSae);
  matmul({ a: input, b: wEnc, c: out, m: rows, n: dSae, k: dIn, transB: true, accumulate: true });
  return out;
}

/** Encode raw activations (the input scale is applied here). */
export function encode(sae: SAE, x: Float32Array, rows: number): SparseCode {
  const { dIn, dSae } = sae.params;
  const scaled = sae.inputScale === 1 ? x : x.map((v) => v * sae.inputScale);
  if (scaled.length !== rows * dIn) throw new Error(`encode: ${scaled.length} values for ${rows} rows of d_in ${dIn}`);
  const pre = preActivations(sae, scaled, rows);
  const indices = new Int32Array(rows * sae.k);
  const values = new Float32Array(rows * sae.k);
  topkRows(pre, rows, dSae, sae.k, values, indices);
  if (sae.recipe === "topk") for (let i = 0; i < values.length; i++) values[i] = Math.max(values[i]!, 0);
  return { rows, k: sae.k, indices, values };
}

/** Reconstruct (in the scaled input space) from a sparse code: b_dec + Σ z_j·W_dec[j]. */
export function decode(sae: SAE, code: SparseCode): Float32Array {
  const { dIn, wDec, bDec } = sae.params;
  const out = new Float32Array(code.rows * dIn);
  for (let r = 0; r < code.rows; r++) {
    const o = r * dIn;
    out.set(bDec, o);
    for (let s = 0; s < code.k; s++) {
      const z = code.values[r * code.k + s]!;
      if (z === 0) continue;
      const w = code.indices[r * code.k + s]! * dIn;
      for (let j = 0; j < dIn; j++) out[o + j] += z * wDec[w + j]!;
    }
  }
  return out;
}

/** Whether a kept entry counts as the latent firing: positive for topk (after ReLU), selected for seed-report. */
export function fires(recipe: Recipe, value: number): boolean {
  return recipe === "topk" ? value > 0 : true;
}
