/**
 * A trained SAE and inference: encode (raw activations → each row's active latents) and decode. The math of
 * each architecture is in its module (./arch/); this file applies what every architecture shares — the input
 * scale, SAELens's per-row normalisations, the decoder-bias subtraction and the encoder product.
 */
import { matmul } from "../tensor/matmul.ts";
import type { Recipe, SAETrainConfig } from "./recipe.ts";
import { ARCHITECTURES } from "./arch/registry.ts";
import type { SAEParams } from "./params.ts";
import type { RowNormalization, SAE, SparseCode } from "./sae_types.ts";

export type { SAEParams } from "./params.ts";
export type { RowNormalization, SAE, SparseCode } from "./sae_types.ts";
export { allocateParams, normaliseRows, geometricMedian, rowMean } from "./params.ts";
export { variableWidthCode } from "./selection.ts";

/** The architecture module of a recipe. */
export function architectureOf(recipe: Recipe) {
  const arch = ARCHITECTURES[recipe];
  if (!arch) throw new Error(`unknown SAE recipe "${String(recipe)}"`);
  return arch;
}

/** Whether this SAE subtracts b_dec before encoding (its file's setting, else the recipe's rule). */
export function subtractsDecoderBias(sae: SAE): boolean {
  return sae.applyDecoderBiasToInput ?? architectureOf(sae.recipe).subtractDecoderBias;
}

/** Apply a per-row normalisation in place; returns the inverse map (scale, shift per row). */
function normaliseRowsForEncoding(x: Float32Array, rows: number, d: number, mode: RowNormalization): { scale: Float32Array; shift: Float32Array } | null {
  if (mode === "none") return null;
  const scale = new Float32Array(rows), shift = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    if (mode === "constant_norm_rescale") {
      let s = 0;
      for (let c = 0; c < d; c++) s += x[o + c]! * x[o + c]!;
      const coeff = Math.fround(Math.sqrt(d) / Math.sqrt(s));
      for (let c = 0; c < d; c++) x[o + c] *= coeff;
      scale[r] = 1 / coeff;
    } else {
      let mu = 0;
      for (let c = 0; c < d; c++) mu += x[o + c]!;
      mu /= d;
      let v = 0;
      for (let c = 0; c < d; c++) v += (x[o + c]! - mu) ** 2;
      const std = Math.sqrt(v / (d - 1));
      for (let c = 0; c < d; c++) x[o + c] = (x[o + c]! - mu) / (std + 1e-5);
      scale[r] = std;
      shift[r] = mu;
    }
  }
  return { scale, shift };
}

/**
 * Pre-activations [rows, d_sae] for (already scaled and normalised) inputs: x̃·W_encᵀ (+ b_enc), where
 * x̃ = x − b_dec when the SAE subtracts its decoder bias.
 */
export function preActivations(sae: SAE, x: Float32Array, rows: number, out = new Float32Array(rows * sae.params.dSae)): Float32Array {
  const { dIn, dSae, wEnc, bEnc, bDec } = sae.params;
  let input = x;
  if (subtractsDecoderBias(sae)) {
    input = new Float32Array(rows * dIn);
    for (let r = 0; r < rows; r++) for (let j = 0; j < dIn; j++) input[r * dIn + j] = x[r * dIn + j]! - bDec[j]!;
  }
  matmul({ a: input, b: wEnc, c: out, m: rows, n: dSae, k: dIn, transB: true });
  // The bias after the product, as the training step adds it.
  if (architectureOf(sae.recipe).encoderBias) for (let r = 0; r < rows; r++) for (let j = 0; j < dSae; j++) out[r * dSae + j] += bEnc[j]!;
  return out;
}

/** Encode raw activations (the input scale and any per-row normalisation are applied here). */
export function encode(sae: SAE, x: Float32Array, rows: number): SparseCode {
  const { dIn } = sae.params;
  if (x.length !== rows * dIn) throw new Error(`encode: ${x.length} values for ${rows} rows of d_in ${dIn}`);
  const arch = architectureOf(sae.recipe);
  if (arch.sparsity === "topk" && !(sae.k >= 1)) throw new Error(`encode: this ${sae.recipe} SAE has no k (it was loaded without k, for its decoder only); load it with k`);
  const mode = sae.rowNormalization ?? "none";
  const scaled = sae.inputScale === 1 && mode === "none" ? x : x.map((v) => v * sae.inputScale);
  const inverse = normaliseRowsForEncoding(scaled, rows, dIn, mode);
  const code = arch.encodeRows(sae, preActivations(sae, scaled, rows), rows);
  if (inverse) {
    code.rowScale = inverse.scale;
    code.rowShift = inverse.shift;
  }
  return code;
}

/** Reconstruct from a sparse code, in the space the SAE encodes (scaled, normalised): b_dec + Σ z_j·W_dec[j]. */
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

/** Reconstruct raw activations: decode, then undo the per-row normalisation and the input scale. */
export function reconstruct(sae: SAE, x: Float32Array, rows: number): Float32Array {
  const code = encode(sae, x, rows);
  const out = decode(sae, code);
  const d = sae.params.dIn;
  for (let r = 0; r < rows; r++) {
    const s = (code.rowScale?.[r] ?? 1) / sae.inputScale, t = (code.rowShift?.[r] ?? 0) / sae.inputScale;
    for (let c = 0; c < d; c++) out[r * d + c] = out[r * d + c]! * s + t;
  }
  return out;
}

/** Whether a kept entry counts as the latent firing: positive, except for seed-report (every selected entry). */
export function fires(recipe: Recipe, value: number): boolean {
  return architectureOf(recipe).fires(value);
}

/** Fresh training parameters for a recipe (its module's initialisation); `sample` holds already scaled inputs. */
export function initialiseParams(config: SAETrainConfig, sample: Float32Array, sampleRows: number): SAEParams {
  return architectureOf(config.recipe).init(config, sample, sampleRows);
}
