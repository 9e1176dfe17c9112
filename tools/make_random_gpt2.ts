/**
 * Make a seeded random GPT-2 checkpoint in the exact Hugging Face layout.
 *
 *   npx tsx tools/make_random_gpt2.ts --out weights/random-gpt2 [--dtype F32|F16] [--seed 0] [--preset gpt2]
 *
 * Full size by default (GPT-2 small: 124M parameters, 548 MB as F32 with the causal-mask buffers). The same
 * weights `--model random` uses in memory; tools/reference/gpt2_reference.py can read the file to check the
 * TypeScript forward pass against PyTorch at full size (see tools/check_full_size.ts).
 */
import { parseArgs } from "../src/cli/args.ts";
import { GPT2_PRESETS } from "../src/gpt2/config.ts";
import { randomGPT2Weights } from "../src/gpt2/random_model.ts";
import { writeCheckpoint } from "../src/gpt2/checkpoint_writer.ts";
import { sha256File } from "../src/gpt2/weights_location.ts";
import { join } from "node:path";

const { flags } = parseArgs("make_random_gpt2", process.argv.slice(2), {
  out: { type: "string", description: "output directory", default: "weights/random-gpt2" },
  dtype: { type: "string", description: "F32 or F16", default: "F32" },
  seed: { type: "int", description: "RNG seed", default: 0 },
  preset: { type: "string", description: "gpt2, gpt2-medium, gpt2-large, gpt2-xl", default: "gpt2" },
});
const config = GPT2_PRESETS[flags.preset as string];
if (!config) throw new Error(`unknown preset ${String(flags.preset)}`);
if (flags.dtype !== "F32" && flags.dtype !== "F16") throw new Error("--dtype must be F32 or F16");
const start = performance.now();
const weights = randomGPT2Weights(config, flags.seed as number);
writeCheckpoint(flags.out as string, weights, flags.dtype, { sae_seeds: `random GPT-2 control, seed ${String(flags.seed)}` });
console.log(`wrote ${flags.out} in ${((performance.now() - start) / 1000).toFixed(1)} s; sha256 ${await sha256File(join(flags.out as string, "model.safetensors"))}`);
