/** A tiny seeded random GPT-2 with the real vocabulary, written as a Hugging Face checkpoint for pipeline tests. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { randomGPT2Weights } from "../../src/gpt2/random_model.ts";
import { writeCheckpoint } from "../../src/gpt2/checkpoint_writer.ts";
import { gridConditions, type SweepSpec } from "../../src/study/spec.ts";

export const TINY_CONFIG = { nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 64, vocabSize: 50257, layerNormEpsilon: 1e-5 };

/** Write the checkpoint into `<root>/tiny-gpt2` (once) and return that directory. */
export function tinyCheckpoint(root: string, seed = 5): string {
  const dir = join(root, "tiny-gpt2");
  if (!existsSync(join(dir, "model.safetensors"))) writeCheckpoint(dir, randomGPT2Weights(TINY_CONFIG, seed));
  return dir;
}

/** A small sweep on it: two layers, 24 latents, k 4, seeds 1–2, 3 epochs (seconds to train). */
export function tinySpec(name: string, weights: string, overrides: Partial<SweepSpec> = {}): SweepSpec {
  return {
    name, model: "gpt2", weights, corpus: "brown", windowing: "standard", seqLen: 32, maxTokens: 600, includeSpecial: false,
    residual: "centered", hookTemplate: "blocks.{layer}.hook_resid_pre", conditions: gridConditions([0, 1], [24], [4], ["topk"]),
    // Quality metrics off unless a test asks for them (with GPT-2's vocabulary they are most of a tiny run's time).
    seeds: [1, 2], epochs: 3, batchSize: 64, lr: 1e-3, evalTokens: 0, ...overrides,
  };
}

/** The CLI flags of the same sweep (for child processes). */
export function tinySweepArgs(weights: string, out: string, cache: string, extra: string[] = []): string[] {
  return ["sweep", "--weights", weights, "--layers", "0,1", "--features", "24", "--k", "4", "--seeds", "1-2", "--max-tokens", "600", "--seq-len", "32",
    "--epochs", "3", "--batch-size", "64", "--lr", "0.001", "--eval-tokens", "0", "--out", out, "--cache", cache, "--quiet", ...extra];
}
