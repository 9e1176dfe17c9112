/**
 * Gemma-2 (Gemma2ForCausalLM), as Hugging Face's modeling_gemma2.py (transformers v4.46.3) computes it:
 *
 *   - RMSNorm that multiplies by (1 + w) (weights stored as offsets from 1), four per layer: input_layernorm and
 *     post_attention_layernorm around the attention, pre_feedforward_layernorm and post_feedforward_layernorm around
 *     the MLP — each branch is normed again before it is added to the residual;
 *   - the embedding times √hidden_size (HF multiplies by that constant in the hidden dtype: in bfloat16 it becomes
 *     bfloat16-rounded, e.g. 59.75 for d = 3584; we use √d in float64, as HF's float32 and float64 runs do);
 *   - grouped-query attention, head_dim independent of hidden_size / heads, scores × query_pre_attn_scalar^−½,
 *     attention soft-capping cap·tanh(s / cap) (attn_logit_softcapping), rotary over the whole head (rope_theta);
 *   - a sliding window on layers 0, 2, 4, …: a query sees keys fewer than sliding_window positions back; odd layers
 *     attend globally;
 *   - gated MLP down(gelu_tanh(gate(x)) · up(x)) (hidden_activation gelu_pytorch_tanh), no MLP biases;
 *   - logits soft-capped by final_logit_softcapping; lm_head tied to embed_tokens unless tie_word_embeddings is false
 *     (Gemma's files have no lm_head.weight).
 */
import { DecoderConfigError, validateDecoderConfig, type Activation, type DecoderConfig } from "../decoder/config.ts";
import type { DecoderWeights } from "../decoder/weights.ts";
import { ConfigFields, type ConfigJson } from "./config_fields.ts";
import { describeConfig, type FamilySpec, type MapOptions } from "./family.ts";
import { llamaLayoutTensors, isLlamaLayoutBuffer, mapLlamaLayout } from "./llama_layout.ts";
import type { CheckpointTensors } from "./tensors.ts";

const ACTIVATIONS: Record<string, Activation> = { gelu_pytorch_tanh: "gelu_tanh", gelu_new: "gelu_tanh", gelu: "gelu_erf", silu: "silu" };
const NORMS = { norm1: "input_layernorm", norm2: "pre_feedforward_layernorm", postAttn: "post_attention_layernorm", postMlp: "post_feedforward_layernorm" };

function parseConfig(json: ConfigJson, file: string): DecoderConfig {
  const f = new ConfigFields(json, file);
  const d = f.positiveInt("hidden_size");
  const nHead = f.positiveInt("num_attention_heads");
  const headDim = f.positiveInt("head_dim", 256);
  const nLayer = f.positiveInt("num_hidden_layers");
  // HF reads hidden_activation (hidden_act is the older key some configs still carry).
  const actKey = f.has("hidden_activation") ? "hidden_activation" : "hidden_act";
  const act = f.choice(actKey, "gelu_pytorch_tanh", Object.keys(ACTIVATIONS));
  const window = f.positiveInt("sliding_window", 4096);
  if (f.has("layer_types")) throw new DecoderConfigError(`${file}: "layer_types" (a per-layer attention pattern from later transformers versions) is not supported; Gemma-2 alternates sliding and global layers`);
  return validateDecoderConfig({
    family: "gemma2", nLayer, nHead, nEmbd: d, nPositions: f.positiveInt("max_position_embeddings", 8192),
    vocabSize: f.positiveInt("vocab_size"), layerNormEpsilon: f.positiveNumber("rms_norm_eps", 1e-6),
    nKVHead: f.positiveInt("num_key_value_heads", nHead), headDim, dMlp: f.positiveInt("intermediate_size"),
    norm: "rmsnorm", normPlusOne: true, sandwichNorms: true,
    positions: "rotary", rotaryDims: headDim, ropeTheta: f.positiveNumber("rope_theta", 10000), ropeScaling: null,
    qkvLayout: "blocks", gatedMlp: true, activation: ACTIVATIONS[act]!, parallelResidual: false,
    embedScale: Math.sqrt(d), attnScale: 1 / Math.sqrt(f.positiveNumber("query_pre_attn_scalar", 224)),
    attnSoftcap: f.optionalPositiveNumber("attn_logit_softcapping", 50), finalSoftcap: f.optionalPositiveNumber("final_logit_softcapping", 30),
    slidingWindows: Array.from({ length: nLayer }, (_, i) => (i % 2 === 0 ? window : null)),
    tiedEmbeddings: f.bool("tie_word_embeddings", true), attnBias: f.bool("attention_bias", false), mlpBias: false,
  }, file);
}

export const gemma2Family: FamilySpec = {
  family: "gemma2",
  label: "Gemma-2",
  modelTypes: ["gemma2"],
  architectures: ["Gemma2ForCausalLM"],
  parseConfig,
  expectedTensors: (c) => llamaLayoutTensors(c, [NORMS.norm1, NORMS.postAttn, NORMS.norm2, NORMS.postMlp]),
  isBuffer: isLlamaLayoutBuffer,
  mapTensors: (src: CheckpointTensors, c: DecoderConfig, options: MapOptions = {}): DecoderWeights =>
    mapLlamaLayout(src, c, NORMS, options.keep16 ?? true, options.label ?? "checkpoint", describeConfig(c, "Gemma-2")),
  toConfigJson: (c) => ({
    architectures: ["Gemma2ForCausalLM"], model_type: "gemma2", vocab_size: c.vocabSize, hidden_size: c.nEmbd,
    intermediate_size: c.dMlp, num_hidden_layers: c.nLayer, num_attention_heads: c.nHead, num_key_value_heads: c.nKVHead,
    head_dim: c.headDim, hidden_activation: Object.entries(ACTIVATIONS).find(([, a]) => a === c.activation)![0],
    max_position_embeddings: c.nPositions, rms_norm_eps: c.layerNormEpsilon, rope_theta: c.ropeTheta,
    query_pre_attn_scalar: 1 / (c.attnScale * c.attnScale), sliding_window: c.slidingWindows[0] ?? c.nPositions,
    attn_logit_softcapping: c.attnSoftcap, final_logit_softcapping: c.finalSoftcap,
    attention_bias: c.attnBias, tie_word_embeddings: c.tiedEmbeddings,
  }),
};
