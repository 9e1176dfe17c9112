/**
 * Loading any supported model from a Hugging Face-layout directory:
 *
 *   config.json                      which family (model_type / architectures) and its shape
 *   model.safetensors                the weights, F32, F16 or BF16 …
 *   model.safetensors.index.json     … or the index of a sharded checkpoint and its shards
 *   tokenizer.json (+ tokenizer_config.json)   the tokenizer, when the checkpoint has one (GPT-2 without it uses
 *                                    GPT-2's BPE; others without it can still be run on token ids)
 *
 * Before any tensor is read, the memory the model needs (./model_memory.ts) is compared with the limit — the
 * machine's memory, or SAE_SEEDS_MEMORY_LIMIT_GIB — and a model that would not fit is refused in one line with the
 * figures. 16-bit matrices stay 16-bit in memory. The model's sha256 is that of model.safetensors, or for a sharded
 * checkpoint the sha256 of the index file followed by each shard's sha256 in name order.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { totalmem } from "node:os";
import { basename, join } from "node:path";
import type { DecoderConfig } from "./decoder/config.ts";
import type { DecoderWeights } from "./decoder/weights.ts";
import { familyForConfig, type FamilySpec } from "./families/index.ts";
import { checkpointWeightFiles, openCheckpointDir, SHARD_INDEX, SINGLE_FILE } from "./checkpoint_files.ts";
import { estimateModelMemory, gib, type MemoryEstimate } from "./model_memory.ts";
import { GPT2_TOKENIZER, hfTokenizer, TokenizerError, type ModelTokenizer } from "./model_tokenizer.ts";
import { sha256File } from "./weights_location.ts";

/** A model directory that cannot be loaded: missing files, bad JSON, or too large for the memory limit. */
export class ModelDirError extends Error {
  override name = "ModelDirError";
}

export interface LoadedDecoder {
  weights: DecoderWeights;
  /** The name it is known by (the directory, or the repo id it was downloaded as). */
  name: string;
  label: string;
  kind: "checkpoint" | "random";
  sha256: string;
  path: string | null;
  family: FamilySpec;
  tokenizer: ModelTokenizer | null;
  memory: MemoryEstimate;
  files: string[];
}

export interface LoadDirOptions {
  name?: string;
  /** Keep F16/BF16 matrices 16-bit (default true). */
  keep16?: boolean;
  /** Refuse models needing more than this (default: SAE_SEEDS_MEMORY_LIMIT_GIB, else the machine's memory). */
  memoryLimitBytes?: number;
  /** Positions one forward runs at once, for the activation estimate (default 1024: 8 windows of 128). */
  rows?: number;
}

function readJson(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ModelDirError(`${path}: cannot read ${what} (${(e as Error).message})`);
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not a JSON object");
    return json as Record<string, unknown>;
  } catch (e) {
    throw new ModelDirError(`${path}: ${what} is not valid JSON (${(e as Error).message})`);
  }
}

/** The memory a model may use: `explicit`, else SAE_SEEDS_MEMORY_LIMIT_GIB, else the machine's memory. */
export function memoryLimit(explicit?: number): number {
  if (explicit !== undefined) return explicit;
  const env = process.env.SAE_SEEDS_MEMORY_LIMIT_GIB;
  if (env !== undefined && env.trim() !== "") {
    const g = Number(env);
    if (!(g > 0)) throw new ModelDirError(`SAE_SEEDS_MEMORY_LIMIT_GIB must be a positive number of GiB, got "${env}"`);
    return g * 2 ** 30;
  }
  return totalmem();
}

/** The tokenizer of a checkpoint directory, or null when it has none (GPT-2: its BPE). */
export function loadDirTokenizer(dir: string, config: DecoderConfig, configJson: Record<string, unknown>): ModelTokenizer | null {
  const path = join(dir, "tokenizer.json");
  if (!existsSync(path)) return config.family === "gpt2" ? GPT2_TOKENIZER : null;
  const configPath = join(dir, "tokenizer_config.json");
  const bytes = readFileSync(path);
  const configBytes = existsSync(configPath) ? readFileSync(configPath) : Buffer.from("{}");
  const sha256 = createHash("sha256").update(bytes).update(configBytes).digest("hex");
  const parse = (b: Buffer, file: string): Record<string, unknown> => {
    try {
      return JSON.parse(b.toString("utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new TokenizerError(`${join(dir, file)} is not valid JSON (${(e as Error).message})`);
    }
  };
  const tokenizer = hfTokenizer({ tokenizerJson: parse(bytes, "tokenizer.json"), tokenizerConfig: parse(configBytes, "tokenizer_config.json"), modelConfig: configJson, sha256, label: dir });
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new TokenizerError(`${path} has ids up to ${tokenizer.vocabSize - 1}, beyond the model's vocabulary of ${config.vocabSize}: this tokenizer does not belong to the model`);
  }
  return tokenizer;
}

/** Bytes the model's parameters take as kept in memory, from the files' headers. */
function heldBytes(family: FamilySpec, config: DecoderConfig, info: (name: string) => { dtype: string; shape: readonly number[] } | null, keep16: boolean): { bytes: number; matrixElementBytes: number } {
  let bytes = 0;
  let sixteen = 0, matrices = 0;
  for (const { key, shape } of family.expectedTensors(config)) {
    const t = info(key);
    const count = shape.reduce((a, b) => a * b, 1);
    const is16 = t !== null && (t.dtype === "F16" || t.dtype === "BF16");
    if (shape.length === 2) {
      matrices++;
      if (is16 && keep16) sixteen++;
      bytes += count * (is16 && keep16 ? 2 : 4);
    } else {
      bytes += count * 4;
    }
  }
  return { bytes, matrixElementBytes: matrices > 0 && sixteen === matrices ? 2 : 4 };
}

/** Load a model directory of any supported family (see the file header): memory checked first, 16-bit kept. */
export async function loadModelDir(dir: string, options: LoadDirOptions = {}): Promise<LoadedDecoder> {
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) throw new ModelDirError(`${dir} has no config.json: not a Hugging Face model directory (download one with \`download --model <repo>\`)`);
  const where = checkpointWeightFiles(dir);
  if (!where) throw new ModelDirError(`${dir} has no ${SINGLE_FILE} or ${SHARD_INDEX}: the weights are missing (download them with \`download --model <repo>\`)`);
  const configJson = readJson(configPath, "config.json");
  const family = familyForConfig(configJson, configPath);
  const config = family.parseConfig(configJson, configPath);
  const keep16 = options.keep16 ?? true;
  const open = openCheckpointDir(dir);
  try {
    const names = new Set(open.tensors.names());
    const { bytes, matrixElementBytes } = heldBytes(family, config, (n) => (names.has(n) ? open.tensors.info(n) : null), keep16);
    const memory = estimateModelMemory(config, bytes, matrixElementBytes, options.rows ?? 1024);
    const limit = memoryLimit(options.memoryLimitBytes);
    if (memory.total > limit) {
      throw new ModelDirError(`${dir}: this ${family.label} model needs about ${gib(memory.total)} (${gib(memory.weights)} of weights as kept${matrixElementBytes === 2 ? " in 16 bits" : " in float32"}, ${gib(memory.staging)} matmul staging, ${gib(memory.activations)} activations for ${options.rows ?? 1024} positions), more than the ${gib(limit)} available; use a smaller model${matrixElementBytes === 4 ? " or its BF16/F16 files" : ""}, or raise SAE_SEEDS_MEMORY_LIMIT_GIB if the machine has more`);
    }
    const weights = family.mapTensors(open.tensors, config, { keep16, label: dir });
    const tokenizer = loadDirTokenizer(dir, config, configJson);
    const sha256 = where.kind === "single" ? await sha256File(where.path) : await shardedSha256(where.index, open.files);
    const shape = `${config.nLayer} layers, d=${config.nEmbd}`;
    const dtype = weights.blocks[0]?.qkv.weight.dtype ?? "F32";
    return {
      weights, name: options.name ?? basename(dir), label: `${family.label} (${shape}, ${dtype}) from ${dir}`, kind: "checkpoint",
      sha256, path: dir, family, tokenizer, memory, files: open.files.map((f) => basename(f)),
    };
  } finally {
    open.close();
  }
}

async function shardedSha256(index: string, shards: string[]): Promise<string> {
  const h = createHash("sha256").update(readFileSync(index));
  for (const shard of [...shards].sort()) h.update(`${basename(shard)}:${await sha256File(shard)}\n`);
  return h.digest("hex");
}
