/**
 * Getting a GPT-2 to run: from a checkpoint directory (config.json + model.safetensors, Hugging Face layout) or
 * the seeded random control. Every loaded model carries a label that says which it is and the sha256 that
 * identifies its weights, so outputs can always be traced to what produced them.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readGPT2Config, GPT2_PRESETS } from "./config.ts";
import { mapCheckpoint, parameterEntries, type GPT2Weights, type TensorSource } from "./weights.ts";
import { openSafetensors } from "./safetensors.ts";
import { randomGPT2Weights, RANDOM_MODEL_LABEL } from "./random_model.ts";
import { sha256File, resolveWeightsDir, describeMissingWeights } from "./weights_location.ts";

export interface LoadedModel {
  weights: GPT2Weights;
  /** The name it is known by (`--model`, SAELens's model_name): "gpt2", "random", … */
  name: string;
  /** Human-readable: "GPT-2 from weights/gpt2" or the random-control label. */
  label: string;
  kind: "checkpoint" | "random";
  /** sha256 of model.safetensors (whole file), or of the random parameters in canonical order. */
  sha256: string;
  path: string | null;
}

export class MissingWeightsError extends Error {
  override name = "MissingWeightsError";
}

/** Load `config.json` + `model.safetensors` from a directory, reading tensors one at a time from the file. */
export async function loadCheckpoint(dir: string, name = "gpt2"): Promise<LoadedModel> {
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
    return { weights, name, label: `GPT-2 (${config.nLayer} layers, d=${config.nEmbd}) from ${dir}`, kind: "checkpoint", sha256, path: dir };
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
export function loadRandomModel(seed = 0): LoadedModel {
  const weights = randomGPT2Weights(GPT2_PRESETS.gpt2!, seed);
  return { weights, name: "random", label: `${RANDOM_MODEL_LABEL}, seed ${seed}`, kind: "random", sha256: hashWeights(weights), path: null };
}

/** The names `--model` takes. */
export const MODEL_NAMES = ["gpt2", "random"] as const;

export interface ModelChoice {
  /** "gpt2" (a checkpoint found via --weights / SAE_SEEDS_WEIGHTS / weights/gpt2) or "random". */
  model?: string;
  weightsDir?: string;
}

export async function loadModel(choice: ModelChoice): Promise<LoadedModel> {
  const model = choice.model ?? "gpt2";
  if (model === "random") return loadRandomModel(0);
  if (model !== "gpt2") throw new Error(`unknown model "${model}": use gpt2 (weights from --weights, SAE_SEEDS_WEIGHTS or weights/gpt2) or random`);
  const dir = resolveWeightsDir(choice.weightsDir);
  if (!existsSync(join(dir, "model.safetensors"))) throw new MissingWeightsError(`no GPT-2 weights in ${dir}. ${describeMissingWeights()}`);
  return loadCheckpoint(dir);
}
