/**
 * What an SAE architecture module provides. One module per architecture (./topk.ts, ./relu_l1.ts, …), holding its
 * forward, loss and backward side by side; ./registry.ts lists them. Everything else — the trainer, Adam, files,
 * checkpoints, inference plumbing — is shared and asks the module through this interface.
 */
import type { Recipe, SAETrainConfig } from "../recipe.ts";
import type { SAEParams } from "../params.ts";
import type { SAE, SparseCode } from "../sae_types.ts";
import type { StepContext, StepStats } from "../step.ts";

export interface Dims {
  dIn: number;
  dSae: number;
  k: number;
  seed: number;
}

/** What a SAELens cfg.json/safetensors pair holds for one architecture, beyond W_enc, W_dec and b_dec. */
export interface SAELensTensors {
  /** Fields of cfg.json specific to the architecture (e.g. topk's k). */
  cfg: Record<string, unknown>;
  /** Tensors beside W_enc, W_dec, b_dec and the encoder bias, already in SAELens layout. */
  tensors: Record<string, Float32Array>;
}

export interface SAELensFormat {
  /** `architecture` as written to cfg.json (what SAELens dispatches on). */
  readonly architecture: string;
  /** Other `architecture` values this module reads because their inference math is this module's. */
  readonly alsoReads?: readonly string[];
  /** SAELens ≤ 5's `activation_fn_str` for this architecture. */
  readonly activationFn: string;
  /** Name of the encoder bias in the file (b_enc; gated's is b_gate). */
  readonly encoderBiasName: string;
  /** Whether SAELens's `rescale_acts_by_decoder_norm: true` is defined for it (folded into the weights on load). */
  readonly rescalesByDecoderNorm?: boolean;
  /** Architecture-specific cfg fields and tensors of an SAE whose input scale is already folded. */
  write(sae: SAE): SAELensTensors;
  /**
   * The architecture's extra parameters (SAEParams.extra) from a file. `tensor` reads a float tensor of the given
   * shape ("scalar": [] or [1]), failing with the file and name when it is missing or misshapen.
   */
  read(cfg: Record<string, unknown>, tensor: (name: string, shape: number[] | "scalar") => Float32Array, dims: { dIn: number; dSae: number }): Record<string, Float32Array> | undefined;
}

export interface ExtraParam {
  name: string;
  /** Every latent's initial value. */
  initial(c: SAETrainConfig): number;
}

export interface Architecture {
  readonly recipe: Recipe;
  /**
   * How `k` is read: "topk" active latents in every row; "batch-topk" k·B active latents per batch; "penalty" the
   * target L0 of a sparsity penalty (./sparsity_control.ts).
   */
  readonly sparsity: "topk" | "batch-topk" | "penalty";
  /** Per-latent tensors beyond W_enc, b_enc, W_dec, b_dec that Adam trains (SAEParams.extra), with their initial values. */
  readonly extraParams: readonly ExtraParam[];
  /** The encoder sees x − b_dec (SAELens apply_b_dec_to_input) rather than x. */
  readonly subtractDecoderBias: boolean;
  /** pre-activations include b_enc (gated adds its two biases itself). */
  readonly encoderBias: boolean;
  /** Decoder rows kept at unit norm: the gradient's radial part is removed before Adam, rows renormalised after. */
  readonly unitNormDecoder: boolean;
  /** The recipe's hyper-parameters (over COMMON_DEFAULTS). */
  defaults(dims: Dims): Partial<SAETrainConfig>;
  /** The recipe's own config rules, beyond the shared ones (throws SAEConfigError). */
  validate?(c: SAETrainConfig): void;
  /** Fresh training parameters; `sample` holds already scaled inputs (for b_dec's initialisation). */
  init(c: SAETrainConfig, sample: Float32Array, sampleRows: number): SAEParams;
  /** Scalar training buffers and their initial values (BatchTopK's running threshold). */
  readonly buffers?: Readonly<Record<string, number>>;
  /**
   * Penalty recipes: the sparsity controller's step of ln λ (positive: too many active latents), for
   * architectures that also move what sets their sparsity directly (../sparsity_control.ts).
   */
  steerSparsity?(p: SAEParams, move: number): void;
  /** Forward, loss and backward on one batch: fills ctx.ws.grads and returns the statistics. */
  step(ctx: StepContext): StepStats;
  /**
   * The inference SAE's parameters from the training ones (e.g. JumpReLU's threshold = exp(log threshold),
   * BatchTopK's global threshold per latent). Defaults to the training parameters themselves.
   */
  inferenceParams?(p: SAEParams, buffers: Readonly<Record<string, number>>): SAEParams;
  /** Inference: each row's active latents from its pre-activations [rows, d_sae] (as encoderBias says). */
  encodeRows(sae: SAE, pre: Float32Array, rows: number): SparseCode;
  /** Whether a kept value counts as the latent firing. */
  fires(value: number): boolean;
  /** The dead-latent rule feature analysis states. */
  deadRule(rows: number): string;
  readonly saelens: SAELensFormat;
}
