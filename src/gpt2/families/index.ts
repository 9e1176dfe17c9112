/**
 * The model families, and choosing one from a config.json: by `model_type`, else by `architectures[0]`.
 */
import { DecoderConfigError, type DecoderConfig } from "../decoder/config.ts";
import type { ConfigJson } from "./config_fields.ts";
import type { FamilySpec } from "./family.ts";
import { gpt2Family } from "./gpt2.ts";
import { gptNeoXFamily } from "./gpt_neox.ts";
import { llamaFamily } from "./llama.ts";
import { gemma2Family } from "./gemma2.ts";

export const FAMILIES: readonly FamilySpec[] = [gpt2Family, gptNeoXFamily, llamaFamily, gemma2Family];

/** The family file a DecoderConfig came from. */
export function familyOf(config: DecoderConfig): FamilySpec {
  return FAMILIES.find((f) => f.family === config.family)!;
}

/** The family a config.json describes, or one error naming what it says and what is supported. */
export function familyForConfig(json: ConfigJson, file: string): FamilySpec {
  const type = json.model_type;
  const arch = Array.isArray(json.architectures) ? json.architectures[0] : undefined;
  const byType = typeof type === "string" ? FAMILIES.find((f) => f.modelTypes.includes(type)) : undefined;
  if (byType) return byType;
  if (type === undefined) {
    const byArch = typeof arch === "string" ? FAMILIES.find((f) => f.architectures.includes(arch)) : undefined;
    if (byArch) return byArch;
    // A config without model_type or architectures is the GPT-2 config of older exports (as before).
    if (arch === undefined && "n_embd" in json) return gpt2Family;
  }
  const supported = FAMILIES.map((f) => `${f.modelTypes[0]} (${f.architectures[0]})`).join(", ");
  throw new DecoderConfigError(`${file}: model_type ${JSON.stringify(type ?? null)}${arch ? `, architecture ${JSON.stringify(arch)}` : ""} is not a supported family; supported: ${supported}`);
}

/** Parse any supported family's config.json into the forward's config. */
export function parseModelConfig(json: unknown, file = "config.json"): DecoderConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new DecoderConfigError(`${file}: expected a JSON object`);
  return familyForConfig(json as ConfigJson, file).parseConfig(json as ConfigJson, file);
}

export type { FamilySpec, ConfigJson } from "./family.ts";
export { gpt2Family, gptNeoXFamily, llamaFamily, gemma2Family };
