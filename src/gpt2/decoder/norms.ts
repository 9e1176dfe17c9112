/**
 * The two norms of the families, over rows of length d, each row's statistics accumulated in float64 (JavaScript
 * numbers) and the result rounded once to float32 when stored.
 *
 *   LayerNorm (GPT-2, GPT-NeoX): (x − mean) / √(biased variance + eps) · w + b
 *   RMSNorm (Llama, Gemma-2):    x / √(mean(x²) + eps) · w        (Gemma: · (1 + w))
 *
 * `affine` false gives the normalised value only (TransformerLens's ln_final.hook_normalized once the norm's weights
 * are folded into the unembedding). Both write each element after reading it, so `out` may be `x`.
 */
import type { NormKind } from "./config.ts";
import type { Norm } from "./weights.ts";

/**
 * Layer norm over rows of length d. `stats`, when given, receives each row's mean and 1/√(var + eps) (the training
 * backward needs them: ../train/layers.ts).
 */
export function layerNormRows(x: Float32Array, rows: number, d: number, weight: Float32Array, bias: Float32Array, eps: number, out: Float32Array, affine = true, stats?: { mean: Float64Array; rstd: Float64Array }): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[o + j]!;
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) {
      const c = x[o + j]! - mean;
      v += c * c;
    }
    const rstd = 1 / Math.sqrt(v / d + eps);
    if (stats) {
      stats.mean[r] = mean;
      stats.rstd[r] = rstd;
    }
    if (affine) for (let j = 0; j < d; j++) out[o + j] = (x[o + j]! - mean) * rstd * weight[j]! + bias[j]!;
    else for (let j = 0; j < d; j++) out[o + j] = (x[o + j]! - mean) * rstd;
  }
}

/** RMS norm over rows of length d; `plusOne` multiplies by (1 + w) (Gemma), `affine` false by nothing. */
export function rmsNormRows(x: Float32Array, rows: number, d: number, weight: Float32Array, eps: number, plusOne: boolean, out: Float32Array, affine = true): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let squares = 0;
    for (let j = 0; j < d; j++) squares += x[o + j]! * x[o + j]!;
    const inv = 1 / Math.sqrt(squares / d + eps);
    if (!affine) for (let j = 0; j < d; j++) out[o + j] = x[o + j]! * inv;
    else if (plusOne) for (let j = 0; j < d; j++) out[o + j] = x[o + j]! * inv * (1 + weight[j]!);
    else for (let j = 0; j < d; j++) out[o + j] = x[o + j]! * inv * weight[j]!;
  }
}

/** The configured norm of rows of x into out. */
export function normRows(kind: NormKind, plusOne: boolean, norm: Norm, x: Float32Array, rows: number, d: number, eps: number, out: Float32Array, affine = true): void {
  if (kind === "layernorm") layerNormRows(x, rows, d, norm.weight, norm.bias!, eps, out, affine);
  else rmsNormRows(x, rows, d, norm.weight, eps, plusOne, out, affine);
}
