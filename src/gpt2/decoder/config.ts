/**
 * What the one decoder-only forward (./forward.ts) needs to know about a model: its shape, and each point where the
 * four families differ, as data. A family file (../families/*.ts) turns a Hugging Face `config.json` into this; the
 * forward never asks which family it runs.
 *
 * The first six fields are GPT2Config's, with the same meaning, so code written against GPT-2's config (layers,
 * width, vocabulary, context) reads any family's.
 */
export type ModelFamily = "gpt2" | "gpt_neox" | "llama" | "gemma2";
export type NormKind = "layernorm" | "rmsnorm";
/** gelu_tanh: GPT-2's gelu_new and Gemma's gelu_pytorch_tanh; gelu_erf: torch's exact GELU (GPT-NeoX's "gelu"). */
export type Activation = "gelu_tanh" | "gelu_erf" | "silu";

/** Llama-3.1's frequency-dependent rescaling of the rotary inverse frequencies (`rope_type: "llama3"`). */
export interface Llama3RopeScaling {
  type: "llama3";
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContext: number;
}

export interface DecoderConfig {
  family: ModelFamily;
  /** Transformer blocks. */
  nLayer: number;
  /** Query heads. */
  nHead: number;
  /** d_model, the residual stream's width. */
  nEmbd: number;
  /** Longest sequence the model takes (learned positions: their count; rotary: max_position_embeddings). */
  nPositions: number;
  vocabSize: number;
  /** Epsilon of every norm (LayerNorm or RMSNorm). */
  layerNormEpsilon: number;

  /** Key/value heads (grouped-query attention when fewer than nHead; nHead must be a multiple). */
  nKVHead: number;
  /** Width of one head (Gemma-2: independent of nEmbd / nHead). */
  headDim: number;
  /** Hidden width of the MLP (for a gated MLP: of the gate and of the up projection, each). */
  dMlp: number;

  norm: NormKind;
  /** Gemma: RMSNorm multiplies by (1 + w) rather than w. */
  normPlusOne: boolean;
  /** Gemma-2: a norm also after the attention and after the MLP, before each is added to the residual. */
  sandwichNorms: boolean;

  positions: "learned" | "rotary";
  /** Leading dimensions of each query/key head that are rotated (0 with learned positions). */
  rotaryDims: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;

  /** Where a head's q, k and v sit in the fused projection's output (see ./weights.ts). */
  qkvLayout: "blocks" | "per_head";
  /** Gated MLP: down(act(gate(x)) · up(x)); otherwise down(act(fc(x))). */
  gatedMlp: boolean;
  activation: Activation;
  /** GPT-NeoX's use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)), with no residual between the two. */
  parallelResidual: boolean;

  /** The embedding is multiplied by this (Gemma: √d_model); 1 for the others. */
  embedScale: number;
  /** Attention scores are q·k × this (1/√head_dim; Gemma-2: query_pre_attn_scalar^−½). */
  attnScale: number;
  /** Gemma-2: scores become cap·tanh(scores / cap) before masking; null for none. */
  attnSoftcap: number | null;
  /** Gemma-2: logits become cap·tanh(logits / cap); null for none. */
  finalSoftcap: number | null;
  /** Per layer: a query sees only the keys less than this many positions back (null: all earlier keys). */
  slidingWindows: (number | null)[];
  /** The unembedding is the embedding matrix (no separate head in the file). */
  tiedEmbeddings: boolean;
  /** Whether the attention projections (q/k/v and output) have biases, and the MLP's (which tensors the file holds). */
  attnBias: boolean;
  mlpBias: boolean;
}

/** A config.json (or DecoderConfig) that no supported model has: names the file, the key and the fix. */
export class DecoderConfigError extends Error {
  override name = "DecoderConfigError";
}

/** Check the invariants the forward relies on; one error naming the first broken one. */
export function validateDecoderConfig(c: DecoderConfig, label: string): DecoderConfig {
  const fail = (what: string): never => {
    throw new DecoderConfigError(`${label}: ${what}`);
  };
  for (const key of ["nLayer", "nHead", "nEmbd", "nPositions", "vocabSize", "nKVHead", "headDim", "dMlp"] as const) {
    if (!Number.isSafeInteger(c[key]) || c[key] <= 0) fail(`${key} must be a positive integer, got ${c[key]}`);
  }
  if (!(c.layerNormEpsilon > 0)) fail(`the norm epsilon must be positive, got ${c.layerNormEpsilon}`);
  if (c.nHead % c.nKVHead !== 0) fail(`${c.nHead} attention heads cannot share ${c.nKVHead} key/value heads (not a divisor)`);
  if (c.positions === "rotary") {
    if (!Number.isSafeInteger(c.rotaryDims) || c.rotaryDims < 2 || c.rotaryDims % 2 !== 0 || c.rotaryDims > c.headDim) {
      fail(`the rotary part of each head must be an even number of dimensions in [2, ${c.headDim}], got ${c.rotaryDims}`);
    }
    if (!(c.ropeTheta > 0)) fail(`the rotary base must be positive, got ${c.ropeTheta}`);
  } else if (c.rotaryDims !== 0 || c.ropeScaling !== null) {
    fail("learned positions take no rotary settings");
  }
  if (c.parallelResidual && c.sandwichNorms) fail("a parallel residual block with sandwich norms is not a layout any supported family has");
  if (c.qkvLayout === "per_head" && c.nKVHead !== c.nHead) fail("a per-head interleaved q/k/v projection needs as many key/value heads as query heads");
  if (c.slidingWindows.length !== c.nLayer) fail(`slidingWindows has ${c.slidingWindows.length} entries for ${c.nLayer} layers`);
  for (const w of c.slidingWindows) if (w !== null && (!Number.isSafeInteger(w) || w < 1)) fail(`a sliding window must be a positive integer, got ${w}`);
  for (const [name, cap] of [["attnSoftcap", c.attnSoftcap], ["finalSoftcap", c.finalSoftcap]] as const) {
    if (cap !== null && !(cap > 0 && Number.isFinite(cap))) fail(`${name} must be a positive number or null, got ${cap}`);
  }
  if (!(c.embedScale > 0 && Number.isFinite(c.embedScale))) fail(`embedScale must be a positive number, got ${c.embedScale}`);
  if (!(c.attnScale > 0 && Number.isFinite(c.attnScale))) fail(`attnScale must be a positive number, got ${c.attnScale}`);
  if (c.ropeScaling) {
    const s = c.ropeScaling;
    if (!(s.factor >= 1) || !(s.lowFreqFactor > 0) || !(s.highFreqFactor > s.lowFreqFactor) || !(s.originalContext > 0)) {
      fail(`llama3 rope scaling needs factor ≥ 1, 0 < low_freq_factor < high_freq_factor and a positive original context, got ${JSON.stringify(s)}`);
    }
  }
  return c;
}

/** Output width of the fused q/k/v projection: query heads plus two sets of key/value heads. */
export function qkvWidth(c: DecoderConfig): number {
  return (c.nHead + 2 * c.nKVHead) * c.headDim;
}
