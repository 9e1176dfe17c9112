/**
 * The two training recipes, by name, and every hyper-parameter a run records.
 *
 * `topk` — Gao et al. 2024, "Scaling and evaluating sparse autoencoders":
 *   z = ReLU(TopK(W_enc·(x − b_dec) + b_enc)),  x̂ = W_dec·z + b_dec,
 *   unit-norm decoder rows (gradient made orthogonal to each row before the step, rows renormalised after),
 *   loss = FVU (MSE normalised by the batch's variance) + α·AuxK (the top-k_aux dead latents reconstruct the
 *   residual; α = 1/32, k_aux = d_in/2), Adam. Init: random unit decoder rows, W_enc = W_decᵀ, b_enc = 0,
 *   b_dec = geometric median of a sample of inputs.
 * `seed-report` — what the seed-stability study ran: z = scatter(TopK(W_enc·x + b_enc)) with no ReLU (kept
 *   values may be negative) and no b_dec subtraction, x̂ = W_dec·z + b_dec, plain MSE over batch × d_in, no
 *   decoder normalisation, Adam(lr 1e-3, β 0.9/0.999, ε 1e-8) at a constant rate, batch 64, PyTorch-Linear
 *   init (W_enc, b_enc ~ U(±1/√d_in)), W_dec = W_encᵀ, b_dec = 0; dead = never in the top-k after training.
 */
export type Recipe = "topk" | "seed-report";
export const RECIPES: readonly Recipe[] = ["topk", "seed-report"];

export interface SAETrainConfig {
  recipe: Recipe;
  dIn: number;
  dSae: number;
  k: number;
  seed: number;
  epochs: number;
  batchSize: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** AuxK: number of dead latents used to model the residual (topk recipe). */
  kAux: number;
  auxCoefficient: number;
  /** A latent is dead for AuxK when it has not fired for this many training tokens. */
  deadAfterTokens: number;
  /** Scale inputs so that E‖x‖² = d_in (the factor is stored with the SAE). */
  normalizeActivations: boolean;
  /** b_dec initialisation for the topk recipe. */
  decoderBiasInit: "geometric-median" | "mean" | "zeros";
  /** Save a resumable checkpoint every this many steps (0: only at the end of each epoch). */
  checkpointEvery: number;
}

export class SAEConfigError extends Error {
  override name = "SAEConfigError";
}

/** Defaults per recipe; anything given in `overrides` wins. */
export function defaultTrainConfig(recipe: Recipe, dims: { dIn: number; dSae: number; k: number; seed: number }, overrides: Partial<SAETrainConfig> = {}): SAETrainConfig {
  const base: SAETrainConfig = recipe === "topk"
    ? {
      recipe, ...dims, epochs: 8, batchSize: 4096, lr: 4e-4, beta1: 0.9, beta2: 0.999, eps: 6.25e-10,
      kAux: Math.floor(dims.dIn / 2), auxCoefficient: 1 / 32, deadAfterTokens: 10_000_000,
      normalizeActivations: true, decoderBiasInit: "geometric-median", checkpointEvery: 0,
    }
    : {
      recipe, ...dims, epochs: 8, batchSize: 64, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8,
      kAux: 0, auxCoefficient: 0, deadAfterTokens: Number.MAX_SAFE_INTEGER,
      normalizeActivations: false, decoderBiasInit: "zeros", checkpointEvery: 0,
    };
  const config = { ...base, ...overrides };
  validateTrainConfig(config);
  return config;
}

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
}
