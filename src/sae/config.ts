/**
 * The training recipes, by name, and every hyper-parameter a run records.
 *
 * Each recipe is an SAE architecture with its training objective, in its own module under ./arch/ (forward,
 * loss and backward side by side; the module's header states the math and its sources). They share one trainer
 * (./trainer.ts), one step skeleton (./step.ts) and one file format (./io.ts):
 *
 *   topk                  Gao et al. 2024: per-row Top-K, ReLU, FVU + AuxK, unit-norm decoder.       ./arch/topk.ts
 *   seed-report           the seed-stability study's Top-K without ReLU, plain MSE, no constraints.    ./arch/seed_report.ts
 *   relu-l1               ReLU + L1 weighted by decoder norms, coefficient warm-up (Anthropic April
 *                         2024; SAELens "standard", dictionary_learning StandardTrainerAprilUpdate).   ./arch/relu_l1.ts
 *   batchtopk             Bussmann et al. 2024: Top-(k·B) over the whole batch; a global threshold for
 *                         inference (exported as SAELens does, as a JumpReLU).                        ./arch/batchtopk.ts
 *   jumprelu              Rajamanoharan et al. 2024: per-latent learned threshold, straight-through
 *                         rectangle estimator, L0 penalty (SAELens jumprelu defaults).                ./arch/jumprelu.ts
 *   gated                 Rajamanoharan et al. 2024 (Gated SAEs): gate and magnitude paths sharing W_enc. ./arch/gated.ts
 *   matryoshka-batchtopk  Bussmann et al. 2025: BatchTopK with nested prefix reconstructions.          ./arch/matryoshka.ts
 *
 * `k` is the number of active latents per row for topk/seed-report, the average per row for the BatchTopK
 * recipes, and the TARGET L0 for the penalty recipes (relu-l1, jumprelu, gated): with sparsityControl
 * "target-l0" their coefficient is steered toward it during the first part of training and then frozen
 * (./sparsity_control.ts), so a sweep passes one k to every recipe.
 */
import { ARCHITECTURES } from "./arch/registry.ts";
import { RECIPES, SAEConfigError, type Recipe, type SAETrainConfig } from "./recipe.ts";

export * from "./recipe.ts";

/** Settings shared by every recipe unless its module says otherwise. */
export const COMMON_DEFAULTS: Omit<SAETrainConfig, "recipe" | "dIn" | "dSae" | "k" | "seed"> = {
  epochs: 8, batchSize: 4096, lr: 4e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8,
  kAux: 0, auxCoefficient: 0, deadAfterTokens: 10_000_000,
  normalizeActivations: true, decoderBiasInit: "zeros", decoderInitNorm: 1, checkpointEvery: 0,
  sparsityCoefficient: 0, sparsityControl: "none", sparsityWarmupFraction: 0, sparsityControlFraction: 0.75,
  gradClipNorm: 0, sparsityInit: "default", initialThreshold: 0, thresholdBandwidth: 0, thresholdRate: 0, matryoshkaWidths: [],
};

/** Defaults per recipe (from its module); anything given in `overrides` wins. */
export function defaultTrainConfig(recipe: Recipe, dims: { dIn: number; dSae: number; k: number; seed: number }, overrides: Partial<SAETrainConfig> = {}): SAETrainConfig {
  const arch = ARCHITECTURES[recipe];
  if (!arch) throw new SAEConfigError(`SAE config: unknown recipe "${String(recipe)}"; use one of ${RECIPES.join(", ")}`);
  const config: SAETrainConfig = { recipe, ...dims, ...COMMON_DEFAULTS, ...arch.defaults(dims), ...overrides };
  validateTrainConfig(config);
  return config;
}

/** Check a training config: one SAEConfigError naming the setting and its rule, or nothing. */
export function validateTrainConfig(c: SAETrainConfig): void {
  const positiveInts: (keyof SAETrainConfig)[] = ["dIn", "dSae", "k", "epochs", "batchSize"];
  for (const key of positiveInts) {
    const v = c[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) throw new SAEConfigError(`SAE config: ${key} must be a positive integer, got ${String(v)}`);
  }
  if (!RECIPES.includes(c.recipe)) throw new SAEConfigError(`SAE config: unknown recipe "${c.recipe}"; use one of ${RECIPES.join(", ")}`);
  if (c.k > c.dSae) throw new SAEConfigError(`SAE config: k = ${c.k} exceeds the number of features ${c.dSae}`);
  if (!Number.isSafeInteger(c.seed)) throw new SAEConfigError(`SAE config: seed must be an integer, got ${c.seed}`);
  if (!(c.lr > 0) || !(c.eps > 0) || !(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) {
    throw new SAEConfigError("SAE config: Adam needs lr > 0, eps > 0 and betas in [0, 1)");
  }
  if (!Number.isSafeInteger(c.kAux) || c.kAux < 0) throw new SAEConfigError(`SAE config: kAux must be a non-negative integer, got ${c.kAux}`);
  if (!(c.deadAfterTokens > 0)) throw new SAEConfigError("SAE config: deadAfterTokens must be positive");
  if (!(c.auxCoefficient >= 0)) throw new SAEConfigError(`SAE config: auxCoefficient must be ≥ 0, got ${c.auxCoefficient}`);
  if (!(c.decoderInitNorm > 0)) throw new SAEConfigError(`SAE config: decoderInitNorm must be positive, got ${c.decoderInitNorm}`);
  if (!["none", "fixed", "target-l0"].includes(c.sparsityControl)) throw new SAEConfigError(`SAE config: sparsityControl must be none, fixed or target-l0, got "${c.sparsityControl}"`);
  const penalty = ARCHITECTURES[c.recipe]!.sparsity === "penalty";
  if (penalty && c.sparsityControl === "none") throw new SAEConfigError(`SAE config: recipe ${c.recipe} has a sparsity penalty; set sparsityControl to "fixed" or "target-l0"`);
  if (!penalty && c.sparsityControl !== "none") throw new SAEConfigError(`SAE config: recipe ${c.recipe} has no sparsity penalty; sparsityControl must be "none"`);
  if (penalty && !(c.sparsityCoefficient > 0)) throw new SAEConfigError(`SAE config: sparsityCoefficient must be positive for ${c.recipe}, got ${c.sparsityCoefficient}`);
  for (const key of ["sparsityWarmupFraction", "sparsityControlFraction"] as const) {
    if (!(c[key] >= 0 && c[key] <= 1)) throw new SAEConfigError(`SAE config: ${key} must be in [0, 1], got ${c[key]}`);
  }
  if (c.sparsityInit !== "default" && c.sparsityInit !== "target-l0") throw new SAEConfigError(`SAE config: sparsityInit must be default or target-l0, got "${c.sparsityInit}"`);
  if (c.sparsityInit === "target-l0" && !penalty) throw new SAEConfigError(`SAE config: sparsityInit target-l0 is for penalty recipes, not ${c.recipe}`);
  if (!(c.gradClipNorm >= 0)) throw new SAEConfigError(`SAE config: gradClipNorm must be ≥ 0 (0 = off), got ${c.gradClipNorm}`);
  if (!Array.isArray(c.matryoshkaWidths)) throw new SAEConfigError("SAE config: matryoshkaWidths must be a list of widths");
  if (c.trainTokens !== undefined && !(Number.isSafeInteger(c.trainTokens) && c.trainTokens > 0)) throw new SAEConfigError(`SAE config: trainTokens must be a positive integer (or absent), got ${String(c.trainTokens)}`);
  ARCHITECTURES[c.recipe]!.validate?.(c);
}
