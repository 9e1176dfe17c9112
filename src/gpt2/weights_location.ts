/** Where GPT-2 weights are looked for, what to say when they are absent, and hashing a weights file. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { resolve } from "node:path";

export const DEFAULT_WEIGHTS_DIR = "weights/gpt2";

/** Precedence: --weights DIR, then SAE_SEEDS_WEIGHTS, then weights/gpt2 (relative to the working directory). */
export function resolveWeightsDir(flag?: string): string {
  if (flag) return resolve(flag);
  const env = process.env.SAE_SEEDS_WEIGHTS;
  if (env) return resolve(env);
  return resolve(DEFAULT_WEIGHTS_DIR);
}

/** Where GPT-2 weights go and how to get them, in one sentence (for error messages). */
export function describeMissingWeights(): string {
  return "GPT-2 weights go in weights/gpt2 (config.json + model.safetensors); get them with `npx tsx src/cli/main.ts download`, point --weights DIR or SAE_SEEDS_WEIGHTS at a copy, or use --model mini for the small trained GPT-2 this repository ships (--model random: the seeded random GPT-2 small control).";
}

/** sha256 of a whole file, streamed (a 548 MB checkpoint is never held in memory for this). */
export function sha256File(path: string): Promise<string> {
  return new Promise((ok, fail) => {
    const hash = createHash("sha256");
    createReadStream(path, { highWaterMark: 1 << 22 })
      .on("data", (chunk) => hash.update(chunk))
      .on("error", fail)
      .on("end", () => ok(hash.digest("hex")));
  });
}
