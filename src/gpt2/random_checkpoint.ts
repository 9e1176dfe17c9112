/**
 * Seeded random checkpoints of any family in its exact Hugging Face layout — the tensor names and shapes its family
 * file expects (./families/), config.json from the family, optionally sharded with a model.safetensors.index.json —
 * for tests, benchmarks and the random-network control of a family.
 *
 * Initialisation (Hugging Face's defaults for these models): every matrix N(0, 0.02²), biases 0, norm gains 1
 * (Gemma's stored offsets 0, since it multiplies by 1 + w). Each tensor draws from its own named stream
 * `<family>-random/<key>`, so one tensor's values do not depend on the others.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "../tensor/rng.ts";
import type { DecoderConfig } from "./decoder/config.ts";
import type { FamilySpec } from "./families/family.ts";
import { writeSafetensors, DTYPE_BYTES, type WritableTensor } from "./safetensors.ts";
import { SHARD_INDEX, SINGLE_FILE } from "./checkpoint_files.ts";

export interface NamedTensor {
  key: string;
  shape: number[];
  data: Float32Array;
}

const isNorm = (key: string): boolean => /(norm|ln_\d|ln_f)[^.]*\.weight$/.test(key);

/** Every parameter of a family at this config, seeded (see the file header), in the family's tensor order. */
export function randomCheckpointTensors(family: FamilySpec, config: DecoderConfig, seed = 0, std = 0.02): NamedTensor[] {
  return family.expectedTensors(config).map(({ key, shape }) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (isNorm(key)) data.fill(config.normPlusOne ? 0 : 1);
    else if (!key.endsWith(".bias")) Rng.stream(seed, `${config.family}-random/${key}`).fillNormal(data, 0, std);
    return { key, shape, data };
  });
}

export interface WriteCheckpointOptions {
  dtype?: "F32" | "F16" | "BF16";
  /** Split into shards of at most this many bytes (with model.safetensors.index.json); absent: one file. */
  maxShardBytes?: number;
  metadata?: Record<string, string>;
}

/** Write config.json and the weights (one file or shards + index), each file via a temporary name. */
export function writeFamilyCheckpoint(dir: string, family: FamilySpec, config: DecoderConfig, tensors: NamedTensor[], options: WriteCheckpointOptions = {}): string[] {
  const dtype = options.dtype ?? "F32";
  mkdirSync(dir, { recursive: true });
  const entry = (t: NamedTensor): WritableTensor => ({ dtype, shape: t.shape, data: t.data });
  const written: string[] = [];
  if (options.maxShardBytes === undefined) {
    writeSafetensors(join(dir, SINGLE_FILE), Object.fromEntries(tensors.map((t) => [t.key, entry(t)])), { format: "pt", ...options.metadata });
    written.push(SINGLE_FILE);
  } else {
    const shards: NamedTensor[][] = [[]];
    let size = 0;
    for (const t of tensors) {
      const bytes = t.data.length * DTYPE_BYTES[dtype];
      if (size > 0 && size + bytes > options.maxShardBytes) {
        shards.push([]);
        size = 0;
      }
      shards[shards.length - 1]!.push(t);
      size += bytes;
    }
    const weightMap: Record<string, string> = {};
    let total = 0;
    shards.forEach((shard, i) => {
      const name = `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
      writeSafetensors(join(dir, name), Object.fromEntries(shard.map((t) => [t.key, entry(t)])), { format: "pt", ...options.metadata });
      for (const t of shard) {
        weightMap[t.key] = name;
        total += t.data.length * DTYPE_BYTES[dtype];
      }
      written.push(name);
    });
    writeJson(join(dir, SHARD_INDEX), { metadata: { total_size: total }, weight_map: weightMap });
    written.push(SHARD_INDEX);
  }
  writeJson(join(dir, "config.json"), { ...family.toConfigJson(config), torch_dtype: dtype === "F32" ? "float32" : dtype === "BF16" ? "bfloat16" : "float16" });
  written.push("config.json");
  return written;
}

function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, path);
}
