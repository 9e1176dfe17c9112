/**
 * GPT-NeoX / Pythia (GPTNeoXForCausalLM), as Hugging Face's modeling_gpt_neox.py (transformers v4.46.3) computes it:
 *
 *   - LayerNorm with bias (layer_norm_eps); learned embed_in, no position embeddings;
 *   - attention.query_key_value: one nn.Linear [3d, d] whose output is interleaved per head — head h's q, k, v are
 *     columns [h·3·hd, h·3·hd + hd), [… + hd, … + 2hd), [… + 2hd, … + 3hd) (qkv.view(…, heads, 3·hd));
 *   - rotary on the first rotary_ndims = int(hd · rotary_pct) dimensions of each head, half-split rotate_half, base
 *     rotary_emb_base; scores × hd^−½;
 *   - use_parallel_residual true: x + attn(ln1(x)) + mlp(ln2(x)); false: x + attn(ln1(x)), then + mlp(ln2(·));
 *   - MLP dense_h_to_4h → act → dense_4h_to_h, act = hidden_act ("gelu" is torch's exact erf GELU);
 *   - attention_bias (default true) gives query_key_value and dense their biases;
 *   - embed_out [vocab, d], untied unless tie_word_embeddings.
 * Files of older Pythia revisions carry buffers — attention.bias (BOOL/U8 causal mask), attention.masked_bias,
 * attention.rotary_emb.inv_freq — which are skipped. rope_scaling (linear/dynamic) is refused: no Pythia uses it.
 */
import { validateDecoderConfig, type Activation, type DecoderConfig } from "../decoder/config.ts";
import type { DecoderBlock, DecoderWeights } from "../decoder/weights.ts";
import { ConfigFields, type ConfigJson } from "./config_fields.ts";
import { describeConfig, type FamilySpec, type MapOptions } from "./family.ts";
import { checkTensors, outInLinear, readMatrix, sameMatrix, type CheckpointTensors, type ExpectedTensor } from "./tensors.ts";
import { WeightsError } from "../weights.ts";
import { DecoderConfigError } from "../decoder/config.ts";

const ACTIVATIONS: Record<string, Activation> = { gelu: "gelu_erf", gelu_new: "gelu_tanh", gelu_pytorch_tanh: "gelu_tanh", silu: "silu" };

function parseConfig(json: ConfigJson, file: string): DecoderConfig {
  const f = new ConfigFields(json, file);
  const d = f.positiveInt("hidden_size");
  const nHead = f.positiveInt("num_attention_heads");
  if (d % nHead !== 0) throw new DecoderConfigError(`${file}: hidden_size ${d} is not divisible by num_attention_heads ${nHead}`);
  const hd = d / nHead;
  const pct = f.fraction("rotary_pct", 0.25);
  const rotaryDims = Math.trunc(hd * pct);
  if (f.object("rope_scaling")) throw new DecoderConfigError(`${file}: "rope_scaling" is set; GPT-NeoX rope scaling (linear/dynamic) is not supported — no Pythia model uses it`);
  const act = f.choice("hidden_act", "gelu", Object.keys(ACTIVATIONS));
  const nLayer = f.positiveInt("num_hidden_layers");
  const config = validateDecoderConfig({
    family: "gpt_neox", nLayer, nHead, nEmbd: d, nPositions: f.positiveInt("max_position_embeddings", 2048),
    vocabSize: f.positiveInt("vocab_size"), layerNormEpsilon: f.positiveNumber("layer_norm_eps", 1e-5),
    nKVHead: nHead, headDim: hd, dMlp: f.positiveInt("intermediate_size"),
    norm: "layernorm", normPlusOne: false, sandwichNorms: false,
    positions: "rotary", rotaryDims, ropeTheta: f.positiveNumber("rotary_emb_base", 10000), ropeScaling: null,
    qkvLayout: "per_head", gatedMlp: false, activation: ACTIVATIONS[act]!, parallelResidual: f.bool("use_parallel_residual", true),
    embedScale: 1, attnScale: 1 / Math.sqrt(hd), attnSoftcap: null, finalSoftcap: null,
    slidingWindows: new Array<null>(nLayer).fill(null), tiedEmbeddings: f.bool("tie_word_embeddings", false),
    attnBias: f.bool("attention_bias", true), mlpBias: true,
  }, file);
  return config;
}

function expectedTensors(c: DecoderConfig): ExpectedTensor[] {
  const d = c.nEmbd, f = c.dMlp, V = c.vocabSize;
  const list: ExpectedTensor[] = [{ key: "gpt_neox.embed_in.weight", shape: [V, d] }];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `gpt_neox.layers.${i}.`;
    list.push(
      { key: `${p}input_layernorm.weight`, shape: [d] }, { key: `${p}input_layernorm.bias`, shape: [d] },
      { key: `${p}post_attention_layernorm.weight`, shape: [d] }, { key: `${p}post_attention_layernorm.bias`, shape: [d] },
      { key: `${p}attention.query_key_value.weight`, shape: [3 * d, d] },
      { key: `${p}attention.dense.weight`, shape: [d, d] },
      { key: `${p}mlp.dense_h_to_4h.weight`, shape: [f, d] }, { key: `${p}mlp.dense_h_to_4h.bias`, shape: [f] },
      { key: `${p}mlp.dense_4h_to_h.weight`, shape: [d, f] }, { key: `${p}mlp.dense_4h_to_h.bias`, shape: [d] },
    );
    if (c.attnBias) list.push({ key: `${p}attention.query_key_value.bias`, shape: [3 * d] }, { key: `${p}attention.dense.bias`, shape: [d] });
  }
  list.push({ key: "gpt_neox.final_layer_norm.weight", shape: [d] }, { key: "gpt_neox.final_layer_norm.bias", shape: [d] });
  if (!c.tiedEmbeddings) list.push({ key: "embed_out.weight", shape: [V, d] });
  return list;
}

const isBuffer = (key: string): boolean => /^gpt_neox\.layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)$/.test(key) || key === "embed_out.weight";

export const gptNeoXFamily: FamilySpec = {
  family: "gpt_neox",
  label: "GPT-NeoX / Pythia",
  modelTypes: ["gpt_neox"],
  architectures: ["GPTNeoXForCausalLM"],
  parseConfig,
  expectedTensors,
  isBuffer,
  mapTensors(src: CheckpointTensors, c: DecoderConfig, options: MapOptions = {}): DecoderWeights {
    const label = options.label ?? "checkpoint";
    const keep16 = options.keep16 ?? true;
    checkTensors(src, expectedTensors(c), isBuffer, label, describeConfig(c, "GPT-NeoX"));
    const m = (k: string) => readMatrix(src, k, keep16);
    const v = (k: string) => src.readFloat32(k);
    const bias = (k: string) => (c.attnBias ? v(k) : null);
    const blocks: DecoderBlock[] = [];
    for (let i = 0; i < c.nLayer; i++) {
      const p = `gpt_neox.layers.${i}.`;
      blocks.push({
        norm1: { weight: v(`${p}input_layernorm.weight`), bias: v(`${p}input_layernorm.bias`) },
        norm2: { weight: v(`${p}post_attention_layernorm.weight`), bias: v(`${p}post_attention_layernorm.bias`) },
        postAttnNorm: null, postMlpNorm: null,
        qkv: outInLinear(m(`${p}attention.query_key_value.weight`), bias(`${p}attention.query_key_value.bias`)),
        attnOut: outInLinear(m(`${p}attention.dense.weight`), bias(`${p}attention.dense.bias`)),
        mlpIn: outInLinear(m(`${p}mlp.dense_h_to_4h.weight`), v(`${p}mlp.dense_h_to_4h.bias`)),
        mlpOut: outInLinear(m(`${p}mlp.dense_4h_to_h.weight`), v(`${p}mlp.dense_4h_to_h.bias`)),
      });
    }
    const embed = m("gpt_neox.embed_in.weight");
    let unembed = embed;
    if (!c.tiedEmbeddings) unembed = m("embed_out.weight");
    else if (src.names().includes("embed_out.weight") && !sameMatrix(m("embed_out.weight"), embed)) {
      throw new WeightsError(`${label}: tie_word_embeddings is true but embed_out.weight differs from gpt_neox.embed_in.weight`);
    }
    return { kind: "decoder", config: c, embed, posEmbed: null, blocks, finalNorm: { weight: v("gpt_neox.final_layer_norm.weight"), bias: v("gpt_neox.final_layer_norm.bias") }, unembed };
  },
  toConfigJson: (c) => ({
    architectures: ["GPTNeoXForCausalLM"], model_type: "gpt_neox", vocab_size: c.vocabSize, hidden_size: c.nEmbd,
    num_hidden_layers: c.nLayer, num_attention_heads: c.nHead, intermediate_size: c.dMlp,
    hidden_act: Object.entries(ACTIVATIONS).find(([, a]) => a === c.activation)![0], rotary_pct: c.rotaryDims / c.headDim,
    rotary_emb_base: c.ropeTheta, max_position_embeddings: c.nPositions, layer_norm_eps: c.layerNormEpsilon,
    use_parallel_residual: c.parallelResidual, tie_word_embeddings: c.tiedEmbeddings, attention_bias: c.attnBias,
  }),
};
