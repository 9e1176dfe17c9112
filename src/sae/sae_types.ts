/**
 * What a trained SAE is and what encoding gives: types only, so the architecture modules (./arch/) and the step parts
 * they share can name them without importing ./sae.ts, which dispatches through the registry that lists them.
 */
import type { Recipe } from "./recipe.ts";
import type { SAEParams } from "./params.ts";

/**
 * SAELens's per-row input normalisations (files can ask for them; our recipes use a constant scale instead):
 * "constant_norm_rescale" x·√d_in/‖x‖; "layer_norm" (x − mean)/(std + 1e-5) with the unbiased std. The
 * reconstruction is mapped back by the inverse.
 */
export type RowNormalization = "none" | "constant_norm_rescale" | "layer_norm";

export interface SAE {
  recipe: Recipe;
  /** topk/seed-report: active latents per row; batchtopk: per row on average; penalty recipes: the target L0; 0 when a file does not say. */
  k: number;
  params: SAEParams;
  /** Inputs are multiplied by this before encoding (1 when activations are not normalised). */
  inputScale: number;
  /** Subtract b_dec before encoding (SAELens apply_b_dec_to_input). Default: the recipe's rule. */
  applyDecoderBiasToInput?: boolean;
  /** Per-row input normalisation (default "none"). */
  rowNormalization?: RowNormalization;
}

export interface SparseCode {
  rows: number;
  /** Entries per row: k for Top-K; for variable-width architectures the largest number of active latents in a row (shorter rows are padded with value-0 entries at latents that are not active). */
  k: number;
  /** Latent ids per row, in descending order of activation (padding last); distinct within a row. */
  indices: Int32Array;
  /** Their activations (after the architecture's non-linearity). */
  values: Float32Array;
  /** Per-row normalisation's inverse, when the SAE has one: raw reconstruction = decode · rowScale + rowShift. */
  rowScale?: Float32Array;
  rowShift?: Float32Array;
}
