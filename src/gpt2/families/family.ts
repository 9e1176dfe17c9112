/**
 * What a model family file provides: how to read its Hugging Face config.json into a DecoderConfig, and how to map its
 * checkpoint's tensor names onto the forward's parameters. Adding a family is adding one such file (and listing it
 * in ./index.ts); the forward and everything above it are unchanged.
 */
import type { DecoderConfig, ModelFamily } from "../decoder/config.ts";
import type { DecoderWeights } from "../decoder/weights.ts";
import type { ConfigJson } from "./config_fields.ts";

export type { ConfigJson } from "./config_fields.ts";
import type { CheckpointTensors, ExpectedTensor } from "./tensors.ts";

export interface MapOptions {
  /** Keep F16/BF16 matrices as their 16-bit codes (default); false decodes them to float32. */
  keep16?: boolean;
  /** Names the checkpoint in messages. */
  label?: string;
}

export interface FamilySpec {
  family: ModelFamily;
  /** Human-readable: "GPT-NeoX / Pythia". */
  label: string;
  /** config.json `model_type` values and `architectures` entries this file reads. */
  modelTypes: readonly string[];
  architectures: readonly string[];
  /** The forward's config from this family's config.json (`file` names it in messages). */
  parseConfig(json: ConfigJson, file: string): DecoderConfig;
  /** Every parameter the file must hold, with its shape, in a fixed order. */
  expectedTensors(config: DecoderConfig): ExpectedTensor[];
  /** Non-parameter tensors files of this family may carry (causal-mask buffers, cached rotary frequencies). */
  isBuffer(key: string): boolean;
  /** Check the checkpoint's tensors against the config and map them onto the forward's parameters. */
  mapTensors(src: CheckpointTensors, config: DecoderConfig, options?: MapOptions): DecoderWeights;
  /** The config.json of a checkpoint with this config (for writing checkpoints in the family's layout). */
  toConfigJson(config: DecoderConfig): ConfigJson;
}

export function describeConfig(c: DecoderConfig, label: string): string {
  return `${label} (${c.nLayer} layers, d=${c.nEmbd}, ${c.nHead} heads${c.nKVHead !== c.nHead ? ` / ${c.nKVHead} kv` : ""}, vocab ${c.vocabSize})`;
}
