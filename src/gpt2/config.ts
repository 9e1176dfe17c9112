/** GPT-2 hyper-parameters: read from a checkpoint's Hugging Face `config.json`, or a named preset. */
import { readFileSync } from "node:fs";

export interface GPT2Config {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  nPositions: number;
  vocabSize: number;
  layerNormEpsilon: number;
}

export const GPT2_PRESETS: Record<string, GPT2Config> = {
  gpt2: { nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257, layerNormEpsilon: 1e-5 },
  "gpt2-medium": { nLayer: 24, nHead: 16, nEmbd: 1024, nPositions: 1024, vocabSize: 50257, layerNormEpsilon: 1e-5 },
  "gpt2-large": { nLayer: 36, nHead: 20, nEmbd: 1280, nPositions: 1024, vocabSize: 50257, layerNormEpsilon: 1e-5 },
  "gpt2-xl": { nLayer: 48, nHead: 25, nEmbd: 1600, nPositions: 1024, vocabSize: 50257, layerNormEpsilon: 1e-5 },
};

/** A GPT-2 config.json that is missing, malformed or describes an unsupported model. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function positiveInt(json: Record<string, unknown>, keys: string[], file: string): number {
  for (const key of keys) {
    const v = json[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) throw new ConfigError(`${file}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }
  throw new ConfigError(`${file}: missing "${keys[0]}" — is this a GPT-2 config.json?`);
}

/** Parse a Hugging Face GPT-2 config object (accepts the older n_ctx alias for n_positions). */
export function parseGPT2Config(json: unknown, file = "config.json"): GPT2Config {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new ConfigError(`${file}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  if (j.model_type !== undefined && j.model_type !== "gpt2") throw new ConfigError(`${file}: model_type is "${String(j.model_type)}", only "gpt2" is supported`);
  const eps = j.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps > 0)) throw new ConfigError(`${file}: "layer_norm_epsilon" must be a positive number`);
  const config: GPT2Config = {
    nLayer: positiveInt(j, ["n_layer"], file),
    nHead: positiveInt(j, ["n_head"], file),
    nEmbd: positiveInt(j, ["n_embd"], file),
    nPositions: positiveInt(j, ["n_positions", "n_ctx"], file),
    vocabSize: positiveInt(j, ["vocab_size"], file),
    layerNormEpsilon: eps,
  };
  if (config.nEmbd % config.nHead !== 0) throw new ConfigError(`${file}: n_embd ${config.nEmbd} is not divisible by n_head ${config.nHead}`);
  return config;
}

/** Read and check a Hugging Face GPT-2 config.json. */
export function readGPT2Config(path: string): GPT2Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseGPT2Config(json, path);
}

/** The Hugging Face config.json for a config (what a checkpoint directory carries). */
export function toHFConfigJson(config: GPT2Config): Record<string, unknown> {
  return {
    model_type: "gpt2",
    architectures: ["GPT2LMHeadModel"],
    activation_function: "gelu_new",
    n_layer: config.nLayer,
    n_head: config.nHead,
    n_embd: config.nEmbd,
    n_positions: config.nPositions,
    n_ctx: config.nPositions,
    vocab_size: config.vocabSize,
    layer_norm_epsilon: config.layerNormEpsilon,
    bos_token_id: 50256,
    eos_token_id: 50256,
  };
}

/** Parameters of a GPT-2 of this shape (tied embedding counted once). */
export function countParameters(c: GPT2Config): number {
  const d = c.nEmbd;
  const perLayer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d);
  return c.vocabSize * d + c.nPositions * d + c.nLayer * perLayer + 2 * d;
}
