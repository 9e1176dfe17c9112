/** The shape every `sae-seeds` sub-command has: its flags, a summary for --help, and what it does. */
import type { FlagSpec, ParsedArgs } from "./args.ts";
import { MODEL_HELP } from "../study/spec.ts";

export interface Command {
  name: string;
  summary: string;
  usage?: string;
  flags: Record<string, FlagSpec>;
  run(args: ParsedArgs): Promise<void>;
}

/** Flags shared by every command that needs a GPT-2. */
export const MODEL_FLAGS: Record<string, FlagSpec> = {
  model: { type: "string", description: MODEL_HELP, default: "gpt2" },
  weights: { type: "string", description: "directory with config.json and model.safetensors" },
  threads: { type: "int", min: 1, description: "matmul threads (default: all cores, or SAE_SEEDS_THREADS)" },
};
