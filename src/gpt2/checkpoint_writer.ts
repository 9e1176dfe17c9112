/**
 * Writing a GPT-2 checkpoint directory in the exact Hugging Face layout (config.json + model.safetensors with
 * the per-layer causal-mask buffers `h.{i}.attn.bias` [1,1,P,P] the hub's file carries), in F32 or F16.
 * Used to make the seeded random GPT-2 small that stands in for real weights on machines that cannot download.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toHFConfigJson } from "./config.ts";
import { parameterEntries, type GPT2Weights } from "./weights.ts";
import { writeSafetensors, type WritableTensor } from "./safetensors.ts";

/** Write GPT-2 weights as a Hugging Face checkpoint (config.json + model.safetensors) in `dir`. */
export function writeCheckpoint(dir: string, weights: GPT2Weights, dtype: "F32" | "F16" = "F32", metadata: Record<string, string> = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, WritableTensor> = {};
  for (const { key, shape, data } of parameterEntries(weights)) tensors[key] = { dtype, shape, data };
  const P = weights.config.nPositions;
  const mask = new Float32Array(P * P);
  for (let i = 0; i < P; i++) for (let j = 0; j <= i; j++) mask[i * P + j] = 1;
  for (let i = 0; i < weights.config.nLayer; i++) tensors[`h.${i}.attn.bias`] = { dtype, shape: [1, 1, P, P], data: mask };
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt", ...metadata });
  const configPath = join(dir, "config.json");
  writeFileSync(`${configPath}.tmp-${process.pid}`, JSON.stringify(toHFConfigJson(weights.config), null, 2) + "\n");
  renameSync(`${configPath}.tmp-${process.pid}`, configPath);
}
