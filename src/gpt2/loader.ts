/**
 * Getting a GPT-2 to run: from a checkpoint directory (config.json + model.safetensors, Hugging Face layout) or
 * the seeded random control. Every loaded model carries a label that says which it is and the sha256 that
 * identifies its weights, so outputs can always be traced to what produced them.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readGPT2Config, GPT2_PRESETS, type GPT2Config } from "./config.ts";
import { mapCheckpoint, parameterEntries, type GPT2Weights, type TensorSource } from "./weights.ts";
import { openSafetensors } from "./safetensors.ts";
import { randomGPT2Weights, RANDOM_MODEL_LABEL } from "./random_model.ts";
import { sha256File, resolveWeightsDir, describeMissingWeights } from "./weights_location.ts";
import type { ModelWeights } from "./model.ts";
import { GPT2_TOKENIZER, type ModelTokenizer } from "./model_tokenizer.ts";
import { loadDirTokenizer, loadModelDir } from "./model_dir.ts";
import { familyForConfig } from "./families/index.ts";
import { isRepoId, repoDir } from "./hub.ts";

export interface LoadedModel<W extends ModelWeights = ModelWeights> {
  weights: W;
  /** The name it is known by (`--model`, SAELens's model_name): "gpt2", "random", … */
  name: string;
  /** Human-readable: "GPT-2 from weights/gpt2" or the random-control label. */
  label: string;
  kind: "checkpoint" | "random";
  /** sha256 of model.safetensors (whole file; sharded: ./model_dir.ts), or of the random parameters in canonical order. */
  sha256: string;
  path: string | null;
  /** Text ↔ ids: GPT-2's BPE for GPT-2 models, a directory's tokenizer.json, or null (the model runs on token ids only). */
  tokenizer?: ModelTokenizer | null;
}

/** GPT-2 weights that are not where they were looked for (the message says where to put them). */
export class MissingWeightsError extends Error {
  override name = "MissingWeightsError";
}

/** Load `config.json` + `model.safetensors` from a directory, reading tensors one at a time from the file. */
export async function loadCheckpoint(dir: string, name = "gpt2"): Promise<LoadedModel<GPT2Weights>> {
  const configPath = join(dir, "config.json");
  const modelPath = join(dir, "model.safetensors");
  if (!existsSync(configPath) || !existsSync(modelPath)) {
    throw new MissingWeightsError(`${dir} has no ${existsSync(configPath) ? "model.safetensors" : "config.json"}. ${describeMissingWeights()}`);
  }
  const config = readGPT2Config(configPath);
  const file = openSafetensors(modelPath);
  try {
    const source: TensorSource = {
      names: () => file.names(),
      shape: (name) => file.info(name).shape,
      read: (name) => file.readFloat32(name),
    };
    const weights = mapCheckpoint(source, config, modelPath);
    const sha256 = await sha256File(modelPath);
    return { weights, name, label: `GPT-2 (${config.nLayer} layers, d=${config.nEmbd}) from ${dir}`, kind: "checkpoint", sha256, path: dir, tokenizer: GPT2_TOKENIZER };
  } finally {
    file.close();
  }
}

/** sha256 over parameters in canonical order (key, shape, little-endian float32 bytes). */
export function hashWeights(weights: GPT2Weights): string {
  const h = createHash("sha256");
  for (const { key, shape, data } of parameterEntries(weights)) {
    h.update(`${key}:${shape.join("x")};`);
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest("hex");
}

/** The seeded random GPT-2 small control. */
export function loadRandomModel(seed = 0): LoadedModel<GPT2Weights> {
  return randomControlOf(GPT2_PRESETS.gpt2!, "random", RANDOM_MODEL_LABEL, seed);
}

/**
 * The names `--model` takes:
 *   gpt2         GPT-2 from --weights DIR, SAE_SEEDS_WEIGHTS or weights/gpt2 (Hugging Face layout)
 *   mini         brown-gpt2-mini, the small GPT-2 this repository ships (models/brown-gpt2-mini), trained by
 *                `train-lm` on the Brown Corpus: the trained model to study when GPT-2's weights cannot be had
 *   random       a seeded random GPT-2 small (the random-network control of GPT-2 small)
 *   random-mini  a seeded random GPT-2 of brown-gpt2-mini's shape (the random-network control of mini)
 */
export const MODEL_NAMES = ["gpt2", "mini", "random", "random-mini"] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** The shipped model, found beside the package (src/gpt2 or dist/gpt2 → ../../models), whatever the working directory. */
export const SHIPPED_MODEL_DIR = fileURLToPath(new URL("../../models/brown-gpt2-mini", import.meta.url));

/** The random-network control of a model: the same shape, seeded random weights. */
export function randomControlOf(config: GPT2Config, name: string, label: string, seed = 0): LoadedModel<GPT2Weights> {
  const weights = randomGPT2Weights(config, seed);
  return { weights, name, label: `${label}, seed ${seed}`, kind: "random", sha256: hashWeights(weights), path: null, tokenizer: GPT2_TOKENIZER };
}

export interface ModelChoice {
  /**
   * One of MODEL_NAMES; or a model directory in the Hugging Face layout (any supported family: ./model_dir.ts); or a
   * hub repository id (owner/name) downloaded with `download --model <repo>` into weights/<owner>/<name>.
   */
  model?: string;
  /** For gpt2: where the checkpoint is (else SAE_SEEDS_WEIGHTS, else weights/gpt2). */
  weightsDir?: string;
}

/** Load the model a choice names: GPT-2 small from its checkpoint, the shipped mini, or a seeded random control. */
export async function loadModel(choice: ModelChoice): Promise<LoadedModel> {
  const model = choice.model ?? "gpt2";
  switch (model) {
    case "random":
      return loadRandomModel(0);
    case "mini": {
      const loaded = await loadCheckpoint(SHIPPED_MODEL_DIR, "mini");
      return { ...loaded, label: `brown-gpt2-mini (${loaded.weights.config.nLayer} layers, d=${loaded.weights.config.nEmbd}; trained by train-lm on the Brown Corpus, shipped in models/)` };
    }
    case "random-mini":
      return randomControlOf(readGPT2Config(join(SHIPPED_MODEL_DIR, "config.json")), "random-mini", "random GPT-2 of brown-gpt2-mini's shape (seeded control, NOT trained)");
    case "gpt2": {
      const dir = resolveWeightsDir(choice.weightsDir);
      if (!existsSync(join(dir, "model.safetensors"))) throw new MissingWeightsError(`no GPT-2 weights in ${dir}. ${describeMissingWeights()}`);
      return loadCheckpoint(dir);
    }
    default: {
      if (existsSync(model) && statSync(model).isDirectory()) return loadModelDir(model);
      if (isRepoId(model)) {
        const dir = repoDir(model);
        if (!existsSync(join(dir, "config.json"))) throw new MissingWeightsError(`${model} is not downloaded (no ${join(dir, "config.json")}); get it with \`sae-seeds download --model ${model}\` (gated models need HF_TOKEN)`);
        return loadModelDir(dir, { name: model });
      }
      throw new Error(`unknown model "${model}": use ${MODEL_NAMES.join(", ")}, a model directory (config.json + safetensors), or a hub repository id such as EleutherAI/pythia-160m`);
    }
  }
}

/** The directory a model choice loads from, or null for the built-in GPT-2 names and controls. */
export function modelDirOf(choice: ModelChoice): string | null {
  const model = choice.model ?? "gpt2";
  if ((MODEL_NAMES as readonly string[]).includes(model)) return null;
  if (existsSync(model) && statSync(model).isDirectory()) return model;
  if (isRepoId(model)) return repoDir(model);
  return null;
}

/** The tokenizer of a model choice without loading its weights (worker processes that only decode contexts). */
export function loadModelTokenizer(choice: ModelChoice): ModelTokenizer {
  const dir = modelDirOf(choice);
  if (dir === null) return GPT2_TOKENIZER;
  const path = join(dir, "config.json");
  const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  const config = familyForConfig(json, path).parseConfig(json, path);
  return loadDirTokenizer(dir, config, json) ?? GPT2_TOKENIZER;
}
