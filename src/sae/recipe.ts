/**
 * The recipe names and the full set of hyper-parameters a run records (SAETrainConfig). Only types and constants:
 * the architecture modules (./arch/) and the parts they share import them from here, and the registry of
 * architectures (./arch/registry.ts) is imported only by what sits above them (./config.ts for the defaults and the
 * checks, ./sae.ts, ./io.ts), so no architecture imports the registry that lists it.
 */
export type Recipe = "topk" | "seed-report" | "relu-l1" | "batchtopk" | "jumprelu" | "gated" | "matryoshka-batchtopk";
export const RECIPES: readonly Recipe[] = ["topk", "seed-report", "relu-l1", "batchtopk", "jumprelu", "gated", "matryoshka-batchtopk"];

export type SparsityControl = "none" | "fixed" | "target-l0";

export interface SAETrainConfig {
  recipe: Recipe;
  dIn: number;
  dSae: number;
  /** Active latents per row (topk, seed-report), per row on average (batchtopk), or the target L0 (penalty recipes). */
  k: number;
  seed: number;
  epochs: number;
  /**
   * Stop after this many training rows (tokens) in all, part-way through the last epoch if need be — a token budget
   * that is not a whole number of passes over the rows. Absent: epochs × rows. When given, epochs must be exactly the
   * passes it needs, ⌈trainTokens / rows⌉.
   */
  trainTokens?: number;
  batchSize: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** AuxK: number of dead latents used to model the residual (topk and BatchTopK recipes; 0 = off). */
  kAux: number;
  auxCoefficient: number;
  /** A latent is dead for AuxK when it has not fired for this many training tokens. */
  deadAfterTokens: number;
  /** Scale inputs so that E‖x‖² = d_in (the factor is stored with the SAE). */
  normalizeActivations: boolean;
  /** b_dec initialisation. */
  decoderBiasInit: "geometric-median" | "mean" | "zeros";
  /** L2 norm of every initial decoder row (W_enc starts as W_decᵀ); unused by seed-report's nn.Linear init. */
  decoderInitNorm: number;
  /** Save a resumable checkpoint every this many steps (0: only at the end of each epoch). */
  checkpointEvery: number;
  /** Penalty recipes: λ (the starting value under "target-l0"). */
  sparsityCoefficient: number;
  /** "fixed": λ as given (after warm-up); "target-l0": steered toward L0 = k, then frozen; "none": no penalty. */
  sparsityControl: SparsityControl;
  /** λ rises linearly from 0 over this fraction of all steps ("fixed" control only). */
  sparsityWarmupFraction: number;
  /** "target-l0": the fraction of all steps during which λ adapts; it is frozen for the rest. */
  sparsityControlFraction: number;
  /** Clip the global gradient L2 norm to this before Adam (0 = no clipping). */
  gradClipNorm: number;
  /**
   * Penalty recipes: "target-l0" starts every latent at the one threshold θ₀ at which the initialisation
   * sample's mean L0 is k (relu-l1 and gated: encoder/gate bias −θ₀; jumprelu: threshold θ₀); "default" keeps
   * the recipe's own (bias 0; JumpReLU initialThreshold).
   */
  sparsityInit: "default" | "target-l0";
  /** JumpReLU: the initial threshold under sparsityInit "default" (SAELens: 0.01), and the rectangle kernel's bandwidth. */
  initialThreshold: number;
  thresholdBandwidth: number;
  /** BatchTopK: rate of the running estimate of the inference threshold (θ ← (1−r)·θ + r·min kept activation). */
  thresholdRate: number;
  /** Matryoshka: the nested prefix widths, increasing, the last one d_sae (empty for other recipes). */
  matryoshkaWidths: number[];
}

/** A training config outside its rules (the message names the setting). */
export class SAEConfigError extends Error {
  override name = "SAEConfigError";
}
