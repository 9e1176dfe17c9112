/** The shape every `sae-seeds` sub-command has: its flags, a summary for --help, and what it does. */
import type { FlagSpec, ParsedArgs } from "./args.ts";
import { MODEL_NAMES } from "../gpt2/loader.ts";

export interface Command {
  name: string;
  summary: string;
  usage?: string;
  flags: Record<string, FlagSpec>;
  run(args: ParsedArgs): Promise<void>;
}

export const MODEL_HELP = "gpt2 (weights from --weights, SAE_SEEDS_WEIGHTS or weights/gpt2), mini (brown-gpt2-mini, the small GPT-2 trained by train-lm that ships in models/), random (seeded random GPT-2 small control) or random-mini (seeded random control of mini's shape)";

/** Flags shared by every command that needs a GPT-2. */
export const MODEL_FLAGS: Record<string, FlagSpec> = {
  model: { type: "string", choices: MODEL_NAMES, description: MODEL_HELP, default: "gpt2" },
  weights: { type: "string", description: "directory with config.json and model.safetensors" },
  threads: { type: "int", min: 1, description: "matmul threads (default: all cores, or SAE_SEEDS_THREADS)" },
};
