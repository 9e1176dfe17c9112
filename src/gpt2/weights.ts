/**
 * GPT-2 parameters in the Hugging Face layout, and the mapping from checkpoint keys to them.
 *
 * The hub's `model.safetensors` names tensors `wte.weight`, `h.{i}.attn.c_attn.weight`, … (some exports add a
 * `transformer.` prefix). Linear layers are HF "Conv1D": weight stored [in, out] and y = x·W + b, which is
 * exactly the orientation our matmul wants, so no transposes are needed anywhere. lm_head is tied to wte.
 */
import type { GPT2Config } from "./config.ts";

export interface GPT2Block {
  ln1Weight: Float32Array; ln1Bias: Float32Array;
  attnWeight: Float32Array; attnBias: Float32Array; // c_attn [d, 3d], [3d]
  attnProjWeight: Float32Array; attnProjBias: Float32Array; // c_proj [d, d], [d]
  ln2Weight: Float32Array; ln2Bias: Float32Array;
  fcWeight: Float32Array; fcBias: Float32Array; // c_fc [d, 4d], [4d]
  mlpProjWeight: Float32Array; mlpProjBias: Float32Array; // c_proj [4d, d], [d]
}

export interface GPT2Weights {
  config: GPT2Config;
  wte: Float32Array; // [vocab, d]
  wpe: Float32Array; // [positions, d]
  blocks: GPT2Block[];
  lnfWeight: Float32Array;
  lnfBias: Float32Array;
}

/** Anything that can list tensors and read them as float32 (a safetensors file, an in-memory map). */
export interface TensorSource {
  /** Every tensor name. */
  names(): string[];
  /** A tensor's shape. */
  shape(name: string): readonly number[];
  /** A tensor as float32. */
  read(name: string): Float32Array;
}

/** A checkpoint whose tensors are missing or misshapen for its config. */
export class WeightsError extends Error {
  override name = "WeightsError";
}

type BlockField = keyof GPT2Block;
const BLOCK_KEYS: [BlockField, string, (d: number) => number[]][] = [
  ["ln1Weight", "ln_1.weight", (d) => [d]],
  ["ln1Bias", "ln_1.bias", (d) => [d]],
  ["attnWeight", "attn.c_attn.weight", (d) => [d, 3 * d]],
  ["attnBias", "attn.c_attn.bias", (d) => [3 * d]],
  ["attnProjWeight", "attn.c_proj.weight", (d) => [d, d]],
  ["attnProjBias", "attn.c_proj.bias", (d) => [d]],
  ["ln2Weight", "ln_2.weight", (d) => [d]],
  ["ln2Bias", "ln_2.bias", (d) => [d]],
  ["fcWeight", "mlp.c_fc.weight", (d) => [d, 4 * d]],
  ["fcBias", "mlp.c_fc.bias", (d) => [4 * d]],
  ["mlpProjWeight", "mlp.c_proj.weight", (d) => [4 * d, d]],
  ["mlpProjBias", "mlp.c_proj.bias", (d) => [d]],
];

/** Every parameter's HF key and shape, in a fixed order (the order files are written and hashed in). */
export function expectedParameters(config: GPT2Config): { key: string; shape: number[] }[] {
  const d = config.nEmbd;
  const list = [
    { key: "wte.weight", shape: [config.vocabSize, d] },
    { key: "wpe.weight", shape: [config.nPositions, d] },
  ];
  for (let i = 0; i < config.nLayer; i++) {
    for (const [, suffix, shape] of BLOCK_KEYS) list.push({ key: `h.${i}.${suffix}`, shape: shape(d) });
  }
  list.push({ key: "ln_f.weight", shape: [d] }, { key: "ln_f.bias", shape: [d] });
  return list;
}

/** Buffers the hub files carry that are not parameters: causal masks (`attn.bias`, older `attn.masked_bias`). */
function isIgnorableBuffer(key: string): boolean {
  return /^h\.\d+\.attn\.(bias|masked_bias)$/.test(key);
}

/** Map checkpoint tensors to GPT2Weights, or throw one error listing every missing, unexpected or mis-shaped key. */
export function mapCheckpoint(source: TensorSource, config: GPT2Config, label = "checkpoint"): GPT2Weights {
  const prefixed = new Map<string, string>(); // canonical key -> key in the file
  for (const name of source.names()) {
    const canonical = name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
    prefixed.set(canonical, name);
  }
  const expected = expectedParameters(config);
  const missing: string[] = [];
  const wrongShape: string[] = [];
  for (const { key, shape } of expected) {
    const fileKey = prefixed.get(key);
    if (fileKey === undefined) missing.push(key);
    else if (source.shape(fileKey).join(",") !== shape.join(",")) wrongShape.push(`${key} is [${source.shape(fileKey).join(", ")}], expected [${shape.join(", ")}]`);
  }
  const known = new Set(expected.map((p) => p.key));
  const unexpected = [...prefixed.keys()].filter((k) => !known.has(k) && !isIgnorableBuffer(k) && k !== "lm_head.weight");
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.length}: ${summarise(missing)}`);
  if (unexpected.length) problems.push(`unexpected ${unexpected.length}: ${summarise(unexpected)}`);
  if (wrongShape.length) problems.push(`wrong shape: ${summarise(wrongShape)}`);
  if (problems.length) {
    throw new WeightsError(`${label} does not match GPT-2 (${config.nLayer} layers, d=${config.nEmbd}, vocab ${config.vocabSize}): ${problems.join("; ")}. Check that config.json belongs to this model.safetensors.`);
  }
  const read = (key: string) => source.read(prefixed.get(key)!);
  const weights: GPT2Weights = {
    config,
    wte: read("wte.weight"),
    wpe: read("wpe.weight"),
    blocks: [],
    lnfWeight: read("ln_f.weight"),
    lnfBias: read("ln_f.bias"),
  };
  for (let i = 0; i < config.nLayer; i++) {
    const block = {} as GPT2Block;
    for (const [field, suffix] of BLOCK_KEYS) block[field] = read(`h.${i}.${suffix}`);
    weights.blocks.push(block);
  }
  const lmHead = prefixed.get("lm_head.weight");
  if (lmHead !== undefined) {
    // Accepted only when tied: an untied head would make our logits silently wrong.
    const head = source.read(lmHead);
    if (head.length !== weights.wte.length || head.some((v, i) => v !== weights.wte[i])) {
      throw new WeightsError(`${label}: lm_head.weight differs from wte.weight; only tied GPT-2 heads are supported`);
    }
  }
  return weights;
}

function summarise(items: string[]): string {
  return items.length <= 8 ? items.join(", ") : `${items.slice(0, 8).join(", ")}, … (${items.length - 8} more)`;
}

/** The parameters as (key, shape, data) in the canonical order: for writing checkpoints and hashing. */
export function* parameterEntries(weights: GPT2Weights): Generator<{ key: string; shape: number[]; data: Float32Array }> {
  const byKey = new Map<string, Float32Array>([
    ["wte.weight", weights.wte],
    ["wpe.weight", weights.wpe],
    ["ln_f.weight", weights.lnfWeight],
    ["ln_f.bias", weights.lnfBias],
  ]);
  weights.blocks.forEach((block, i) => {
    for (const [field, suffix] of BLOCK_KEYS) byKey.set(`h.${i}.${suffix}`, block[field]);
  });
  for (const { key, shape } of expectedParameters(weights.config)) yield { key, shape, data: byKey.get(key)! };
}
