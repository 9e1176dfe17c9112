/**
 * GPT-2 (GPT2LMHeadModel) on the decoder forward: learned positions, LayerNorm with bias, a fused c_attn in HF's
 * Conv1D orientation ([in, out], q | k | v blocks), GELU (tanh form) fused into the fc matmul, and the unembedding
 * tied to wte. Keys as in openai-community/gpt2's model.safetensors (some exports add a `transformer.` prefix; the
 * causal-mask buffers h.{i}.attn.bias / masked_bias are skipped; an lm_head.weight must equal wte).
 *
 * `decoderFromGPT2` wraps the float32 GPT2Weights of ../weights.ts (the training code's layout) without copying:
 * the forward over it computes exactly what GPT-2's forward always computed.
 */
import { parseGPT2Config, toHFConfigJson, type GPT2Config } from "../config.ts";
import { validateDecoderConfig, type DecoderConfig } from "../decoder/config.ts";
import type { DecoderBlock, DecoderWeights, Linear, Matrix } from "../decoder/weights.ts";
import { expectedParameters, WeightsError, type GPT2Weights } from "../weights.ts";
import type { ConfigJson } from "./config_fields.ts";
import { describeConfig, type FamilySpec, type MapOptions } from "./family.ts";
import { checkTensors, readMatrix, sameMatrix, type CheckpointTensors } from "./tensors.ts";

export function gpt2DecoderConfig(c: GPT2Config): DecoderConfig {
  const d = c.nEmbd;
  return validateDecoderConfig({
    family: "gpt2", nLayer: c.nLayer, nHead: c.nHead, nEmbd: d, nPositions: c.nPositions, vocabSize: c.vocabSize,
    layerNormEpsilon: c.layerNormEpsilon, nKVHead: c.nHead, headDim: d / c.nHead, dMlp: 4 * d,
    norm: "layernorm", normPlusOne: false, sandwichNorms: false, positions: "learned", rotaryDims: 0, ropeTheta: 0,
    ropeScaling: null, qkvLayout: "blocks", gatedMlp: false, activation: "gelu_tanh", parallelResidual: false,
    embedScale: 1, attnScale: 1 / Math.sqrt(d / c.nHead), attnSoftcap: null, finalSoftcap: null,
    slidingWindows: new Array<null>(c.nLayer).fill(null), tiedEmbeddings: true, attnBias: true, mlpBias: true,
  }, "GPT-2 config");
}

/** The GPT2Config inside a GPT-2 DecoderConfig (the fields have the same names). */
export function gpt2ConfigOf(c: DecoderConfig): GPT2Config {
  return { nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, nPositions: c.nPositions, vocabSize: c.vocabSize, layerNormEpsilon: c.layerNormEpsilon };
}

const f32 = (rows: number, cols: number, data: Float32Array): Matrix => ({ rows, cols, dtype: "F32", data });
const conv1d = (weight: Matrix, bias: Float32Array): Linear => ({ weight, layout: "in_out", bias, inDim: weight.rows, outDim: weight.cols });

/** A view of float32 GPT-2 weights as decoder weights (no copies). */
export function decoderFromGPT2(w: GPT2Weights): DecoderWeights {
  const c = w.config;
  const d = c.nEmbd;
  const embed = f32(c.vocabSize, d, w.wte);
  const blocks: DecoderBlock[] = w.blocks.map((b) => ({
    norm1: { weight: b.ln1Weight, bias: b.ln1Bias },
    norm2: { weight: b.ln2Weight, bias: b.ln2Bias },
    postAttnNorm: null,
    postMlpNorm: null,
    qkv: conv1d(f32(d, 3 * d, b.attnWeight), b.attnBias),
    attnOut: conv1d(f32(d, d, b.attnProjWeight), b.attnProjBias),
    mlpIn: conv1d(f32(d, 4 * d, b.fcWeight), b.fcBias),
    mlpOut: conv1d(f32(4 * d, d, b.mlpProjWeight), b.mlpProjBias),
  }));
  return { kind: "decoder", config: gpt2DecoderConfig(c), embed, posEmbed: w.wpe, blocks, finalNorm: { weight: w.lnfWeight, bias: w.lnfBias }, unembed: embed };
}

function canonical(src: CheckpointTensors): { view: CheckpointTensors; lmHead: string | null } {
  const byCanonical = new Map<string, string>();
  for (const name of src.names()) byCanonical.set(name.startsWith("transformer.") ? name.slice("transformer.".length) : name, name);
  const real = (k: string) => byCanonical.get(k) ?? k;
  return {
    view: {
      names: () => [...byCanonical.keys()],
      info: (k) => src.info(real(k)),
      readFloat32: (k) => src.readFloat32(real(k)),
      readCodes: (k) => src.readCodes(real(k)),
    },
    lmHead: byCanonical.has("lm_head.weight") ? "lm_head.weight" : null,
  };
}

export const gpt2Family: FamilySpec = {
  family: "gpt2",
  label: "GPT-2",
  modelTypes: ["gpt2"],
  architectures: ["GPT2LMHeadModel"],
  parseConfig: (json, file) => gpt2DecoderConfig(parseGPT2Config(json, file)),
  expectedTensors: (c) => expectedParameters(gpt2ConfigOf(c)),
  isBuffer: (key) => /^h\.\d+\.attn\.(bias|masked_bias)$/.test(key) || key === "lm_head.weight",
  mapTensors(src: CheckpointTensors, c: DecoderConfig, options: MapOptions = {}): DecoderWeights {
    const label = options.label ?? "checkpoint";
    const keep16 = options.keep16 ?? true;
    const { view, lmHead } = canonical(src);
    checkTensors(view, gpt2Family.expectedTensors(c), gpt2Family.isBuffer, label, describeConfig(c, "GPT-2"));
    const m = (k: string) => readMatrix(view, k, keep16);
    const v = (k: string) => view.readFloat32(k);
    const embed = m("wte.weight");
    const blocks: DecoderBlock[] = [];
    for (let i = 0; i < c.nLayer; i++) {
      const p = `h.${i}.`;
      const conv = (k: string): Linear => conv1d(m(`${p}${k}.weight`), v(`${p}${k}.bias`));
      blocks.push({
        norm1: { weight: v(`${p}ln_1.weight`), bias: v(`${p}ln_1.bias`) },
        norm2: { weight: v(`${p}ln_2.weight`), bias: v(`${p}ln_2.bias`) },
        postAttnNorm: null, postMlpNorm: null,
        qkv: conv("attn.c_attn"),
        attnOut: conv("attn.c_proj"),
        mlpIn: conv("mlp.c_fc"),
        mlpOut: conv("mlp.c_proj"),
      });
    }
    if (lmHead !== null && !sameMatrix(readMatrix(view, lmHead, keep16), embed)) {
      throw new WeightsError(`${label}: lm_head.weight differs from wte.weight; only tied GPT-2 heads are supported`);
    }
    return { kind: "decoder", config: c, embed, posEmbed: v("wpe.weight"), blocks, finalNorm: { weight: v("ln_f.weight"), bias: v("ln_f.bias") }, unembed: embed };
  },
  toConfigJson: (c) => toHFConfigJson(gpt2ConfigOf(c)) as ConfigJson,
};
