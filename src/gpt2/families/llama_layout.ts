/**
 * The tensor layout Llama and Gemma-2 share (both descend from Hugging Face's LlamaForCausalLM):
 *
 *   model.embed_tokens.weight [V, d]
 *   model.layers.{i}.self_attn.{q,k,v}_proj.weight [heads·hd | kv·hd | kv·hd, d], o_proj.weight [d, heads·hd]
 *                    (+ .bias each when attention_bias)
 *   model.layers.{i}.mlp.{gate,up}_proj.weight [f, d], down_proj.weight [d, f] (+ .bias when mlp_bias)
 *   model.layers.{i}.<norms>.weight [d]                      (Llama: 2 per layer; Gemma-2: 4)
 *   model.norm.weight [d];  lm_head.weight [V, d] unless the embeddings are tied
 *
 * q, k and v are stacked into the forward's fused projection ("blocks" layout) and gate over up into its gated MLP
 * input; the stacking copies each matrix once at load, in its own dtype. Older conversions also store
 * self_attn.rotary_emb.inv_freq, which is skipped.
 */
import type { DecoderConfig } from "../decoder/config.ts";
import type { DecoderBlock, DecoderWeights, Norm } from "../decoder/weights.ts";
import { WeightsError } from "../weights.ts";
import { checkTensors, outInLinear, readMatrix, sameMatrix, stackRows, stackVectors, type CheckpointTensors, type ExpectedTensor } from "./tensors.ts";

export function llamaLayoutTensors(c: DecoderConfig, norms: readonly string[]): ExpectedTensor[] {
  const d = c.nEmbd, f = c.dMlp, hd = c.headDim, V = c.vocabSize;
  const list: ExpectedTensor[] = [{ key: "model.embed_tokens.weight", shape: [V, d] }];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `model.layers.${i}.`;
    for (const n of norms) list.push({ key: `${p}${n}.weight`, shape: [d] });
    const attn: [string, number, number][] = [["q_proj", c.nHead * hd, d], ["k_proj", c.nKVHead * hd, d], ["v_proj", c.nKVHead * hd, d], ["o_proj", d, c.nHead * hd]];
    for (const [name, out, inp] of attn) {
      list.push({ key: `${p}self_attn.${name}.weight`, shape: [out, inp] });
      if (c.attnBias) list.push({ key: `${p}self_attn.${name}.bias`, shape: [out] });
    }
    const mlp: [string, number, number][] = [["gate_proj", f, d], ["up_proj", f, d], ["down_proj", d, f]];
    for (const [name, out, inp] of mlp) {
      list.push({ key: `${p}mlp.${name}.weight`, shape: [out, inp] });
      if (c.mlpBias) list.push({ key: `${p}mlp.${name}.bias`, shape: [out] });
    }
  }
  list.push({ key: "model.norm.weight", shape: [d] });
  if (!c.tiedEmbeddings) list.push({ key: "lm_head.weight", shape: [V, d] });
  return list;
}

export const isLlamaLayoutBuffer = (key: string): boolean => /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(key) || key === "lm_head.weight";

/** Which of a layer's norms goes where: [norm1, norm2, postAttn, postMlp] suffixes (null: the layer has none). */
export interface LlamaNormNames {
  norm1: string;
  norm2: string;
  postAttn: string | null;
  postMlp: string | null;
}

export function mapLlamaLayout(src: CheckpointTensors, c: DecoderConfig, names: LlamaNormNames, keep16: boolean, label: string, model: string): DecoderWeights {
  const norms = [names.norm1, names.norm2, names.postAttn, names.postMlp].filter((n): n is string => n !== null);
  checkTensors(src, llamaLayoutTensors(c, norms), isLlamaLayoutBuffer, label, model);
  const m = (k: string) => readMatrix(src, k, keep16);
  const v = (k: string) => src.readFloat32(k);
  const norm = (k: string | null, p: string): Norm | null => (k === null ? null : { weight: v(`${p}${k}.weight`), bias: null });
  const hd = c.headDim;
  const blocks: DecoderBlock[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `model.layers.${i}.`;
    const a = (n: string, bias: boolean) => ({ w: m(`${p}self_attn.${n}.weight`), b: bias ? v(`${p}self_attn.${n}.bias`) : null });
    const q = a("q_proj", c.attnBias), k = a("k_proj", c.attnBias), vv = a("v_proj", c.attnBias), o = a("o_proj", c.attnBias);
    const g = m(`${p}mlp.gate_proj.weight`), u = m(`${p}mlp.up_proj.weight`);
    const mb = (n: string) => (c.mlpBias ? v(`${p}mlp.${n}.bias`) : null);
    blocks.push({
      norm1: norm(names.norm1, p)!,
      norm2: norm(names.norm2, p)!,
      postAttnNorm: norm(names.postAttn, p),
      postMlpNorm: norm(names.postMlp, p),
      qkv: outInLinear(stackRows([q.w, k.w, vv.w]), stackVectors([q.b, k.b, vv.b], [c.nHead * hd, c.nKVHead * hd, c.nKVHead * hd])),
      attnOut: outInLinear(o.w, o.b),
      mlpIn: outInLinear(stackRows([g, u]), stackVectors([mb("gate_proj"), mb("up_proj")], [c.dMlp, c.dMlp])),
      mlpOut: outInLinear(m(`${p}mlp.down_proj.weight`), mb("down_proj")),
    });
  }
  const embed = m("model.embed_tokens.weight");
  let unembed = embed;
  if (!c.tiedEmbeddings) unembed = m("lm_head.weight");
  else if (src.names().includes("lm_head.weight") && !sameMatrix(m("lm_head.weight"), embed)) {
    throw new WeightsError(`${label}: the embeddings are tied but lm_head.weight differs from model.embed_tokens.weight; set tie_word_embeddings to false in config.json if the head is separate`);
  }
  return { kind: "decoder", config: c, embed, posEmbed: null, blocks, finalNorm: { weight: v("model.norm.weight"), bias: null }, unembed };
}
