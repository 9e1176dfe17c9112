/**
 * Llama (LlamaForCausalLM: Llama-2/3.x, SmolLM2, and the other checkpoints of that layout), as Hugging Face's
 * modeling_llama.py (transformers v4.46.3) computes it:
 *
 *   - RMSNorm: x / √(mean(x²) + rms_norm_eps) · w, before the attention and before the MLP, and at the end;
 *   - grouped-query attention: num_key_value_heads key/value heads, each shared by heads / kv query heads;
 *     head_dim from config.json or hidden_size / heads; scores × head_dim^−½;
 *   - rotary over the whole head, half-split rotate_half, base rope_theta; rope_scaling absent/null, or
 *     rope_type "llama3" (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings) —
 *     other scalings (linear, dynamic, yarn, longrope) are refused;
 *   - SwiGLU MLP: down(silu(gate(x)) · up(x)) (hidden_act silu);
 *   - optional biases (attention_bias, mlp_bias); lm_head tied to embed_tokens when tie_word_embeddings.
 * pretraining_tp > 1 splits the same products into slices in HF; the result is the same function, computed whole.
 */
import { DecoderConfigError, validateDecoderConfig, type Activation, type DecoderConfig, type Llama3RopeScaling } from "../decoder/config.ts";
import type { DecoderWeights } from "../decoder/weights.ts";
import { ConfigFields, type ConfigJson } from "./config_fields.ts";
import { describeConfig, type FamilySpec, type MapOptions } from "./family.ts";
import { llamaLayoutTensors, isLlamaLayoutBuffer, mapLlamaLayout } from "./llama_layout.ts";
import type { CheckpointTensors } from "./tensors.ts";

const ACTIVATIONS: Record<string, Activation> = { silu: "silu", swish: "silu", gelu: "gelu_erf", gelu_pytorch_tanh: "gelu_tanh", gelu_new: "gelu_tanh" };
const NORMS = { norm1: "input_layernorm", norm2: "post_attention_layernorm", postAttn: null, postMlp: null };

/** rope_scaling: null, {rope_type|type: "default"}, or llama3's four numbers. */
export function parseRopeScaling(f: ConfigFields): Llama3RopeScaling | null {
  const s = f.object("rope_scaling");
  if (!s) return null;
  const type = s.rope_type ?? s.type;
  if (type === "default") return null;
  if (type !== "llama3") throw new DecoderConfigError(`${f.file}: rope_scaling type ${JSON.stringify(type)} is not supported; supported: none, "default", "llama3"`);
  const g = new ConfigFields(s, `${f.file} rope_scaling`);
  return {
    type: "llama3",
    factor: g.positiveNumber("factor"),
    lowFreqFactor: g.positiveNumber("low_freq_factor"),
    highFreqFactor: g.positiveNumber("high_freq_factor"),
    originalContext: g.positiveInt("original_max_position_embeddings"),
  };
}

function parseConfig(json: ConfigJson, file: string): DecoderConfig {
  const f = new ConfigFields(json, file);
  const d = f.positiveInt("hidden_size");
  const nHead = f.positiveInt("num_attention_heads");
  if (!f.has("head_dim") && d % nHead !== 0) throw new DecoderConfigError(`${file}: hidden_size ${d} is not divisible by num_attention_heads ${nHead} and no head_dim is given`);
  const headDim = f.positiveInt("head_dim", Math.floor(d / nHead));
  if (f.has("partial_rotary_factor") && json.partial_rotary_factor !== 1) throw new DecoderConfigError(`${file}: partial_rotary_factor ${JSON.stringify(json.partial_rotary_factor)} is not supported for Llama (the whole head is rotated)`);
  const nLayer = f.positiveInt("num_hidden_layers");
  const act = f.choice("hidden_act", "silu", Object.keys(ACTIVATIONS));
  return validateDecoderConfig({
    family: "llama", nLayer, nHead, nEmbd: d, nPositions: f.positiveInt("max_position_embeddings", 2048),
    vocabSize: f.positiveInt("vocab_size"), layerNormEpsilon: f.positiveNumber("rms_norm_eps", 1e-6),
    nKVHead: f.positiveInt("num_key_value_heads", nHead), headDim, dMlp: f.positiveInt("intermediate_size"),
    norm: "rmsnorm", normPlusOne: false, sandwichNorms: false,
    positions: "rotary", rotaryDims: headDim, ropeTheta: f.positiveNumber("rope_theta", 10000), ropeScaling: parseRopeScaling(f),
    qkvLayout: "blocks", gatedMlp: true, activation: ACTIVATIONS[act]!, parallelResidual: false,
    embedScale: 1, attnScale: 1 / Math.sqrt(headDim), attnSoftcap: null, finalSoftcap: null,
    slidingWindows: new Array<null>(nLayer).fill(null), tiedEmbeddings: f.bool("tie_word_embeddings", false),
    attnBias: f.bool("attention_bias", false), mlpBias: f.bool("mlp_bias", false),
  }, file);
}

export const llamaFamily: FamilySpec = {
  family: "llama",
  label: "Llama",
  modelTypes: ["llama"],
  architectures: ["LlamaForCausalLM"],
  parseConfig,
  expectedTensors: (c) => llamaLayoutTensors(c, [NORMS.norm1, NORMS.norm2]),
  isBuffer: isLlamaLayoutBuffer,
  mapTensors: (src: CheckpointTensors, c: DecoderConfig, options: MapOptions = {}): DecoderWeights =>
    mapLlamaLayout(src, c, NORMS, options.keep16 ?? true, options.label ?? "checkpoint", describeConfig(c, "Llama")),
  toConfigJson: (c) => ({
    architectures: ["LlamaForCausalLM"], model_type: "llama", vocab_size: c.vocabSize, hidden_size: c.nEmbd,
    intermediate_size: c.dMlp, num_hidden_layers: c.nLayer, num_attention_heads: c.nHead, num_key_value_heads: c.nKVHead,
    head_dim: c.headDim, hidden_act: Object.entries(ACTIVATIONS).find(([, a]) => a === c.activation)![0],
    max_position_embeddings: c.nPositions, rms_norm_eps: c.layerNormEpsilon, rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling ? { rope_type: "llama3", factor: c.ropeScaling.factor, low_freq_factor: c.ropeScaling.lowFreqFactor, high_freq_factor: c.ropeScaling.highFreqFactor, original_max_position_embeddings: c.ropeScaling.originalContext } : null,
    attention_bias: c.attnBias, mlp_bias: c.mlpBias, tie_word_embeddings: c.tiedEmbeddings,
  }),
};
