/**
 * A checkpoint's weight files as one set of named tensors: a single `model.safetensors`, or the shards a
 * `model.safetensors.index.json` lists (Hugging Face's sharded layout:
 * {"metadata": {"total_size": bytes}, "weight_map": {tensor name: shard file name}}).
 *
 * Every shard's header is validated when opened (./safetensors.ts); the index must name only files beside it, map
 * every tensor the shards hold to the shard that holds it, and nothing else — a tensor in two shards, a listed
 * tensor missing from its shard, or a shard tensor the index does not list is one error naming it. Tensors are read
 * one at a time at their offsets, so a model is never held twice in memory while loading.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { DTYPE_BYTES, openSafetensors, SafetensorsError, type SafetensorsFile } from "./safetensors.ts";
import type { CheckpointTensors } from "./families/tensors.ts";

export const SINGLE_FILE = "model.safetensors";
export const SHARD_INDEX = "model.safetensors.index.json";

export interface OpenCheckpoint {
  tensors: CheckpointTensors;
  /** The weight files, in the order read (one, or the shards sorted by name). */
  files: string[];
  /** Bytes of tensor data over all files (what loading reads). */
  dataBytes: number;
  /** The file holding a tensor. */
  fileOf(name: string): string | undefined;
  /** Close every file. */
  close(): void;
}

/** A weight file set that is inconsistent: a missing shard, a tensor in two files, an index that disagrees with its shards. */
export class CheckpointFilesError extends Error {
  override name = "CheckpointFilesError";
}

function viewOf(byName: Map<string, SafetensorsFile>): CheckpointTensors {
  const fileOf = (name: string): SafetensorsFile => {
    const f = byName.get(name);
    if (!f) throw new CheckpointFilesError(`no tensor "${name}" in the checkpoint`);
    return f;
  };
  return {
    names: () => [...byName.keys()].sort(),
    info: (name) => fileOf(name).info(name),
    readFloat32: (name) => fileOf(name).readFloat32(name),
    readCodes(name) {
      const { dtype, data } = fileOf(name).readTensor(name);
      if (dtype !== "F16" && dtype !== "BF16") throw new SafetensorsError(`tensor "${name}" is ${dtype}, not a 16-bit float`);
      return data as Uint16Array;
    },
  };
}

function tensorBytes(file: SafetensorsFile): number {
  return file.names().reduce((sum, n) => {
    const t = file.info(n);
    return sum + t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
  }, 0);
}

/** Open safetensors files as one checkpoint (a tensor name in two of them is an error). */
export function openSafetensorsFiles(paths: string[]): OpenCheckpoint {
  const opened: SafetensorsFile[] = [];
  const byName = new Map<string, SafetensorsFile>();
  try {
    for (const path of paths) {
      const file = openSafetensors(path);
      opened.push(file);
      for (const name of file.names()) {
        const other = byName.get(name);
        if (other) throw new CheckpointFilesError(`tensor "${name}" is in both ${basename(other.label)} and ${basename(path)}`);
        byName.set(name, file);
      }
    }
  } catch (e) {
    for (const f of opened) f.close();
    throw e;
  }
  return {
    tensors: viewOf(byName), files: [...paths], dataBytes: opened.reduce((s, f) => s + tensorBytes(f), 0),
    fileOf: (name) => byName.get(name)?.label, close: () => opened.forEach((f) => f.close()),
  };
}

/** The shard files a model.safetensors.index.json names, after checking its form. */
export function readShardIndex(indexPath: string): { shards: string[]; weightMap: Map<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, "utf8"));
  } catch (e) {
    throw new CheckpointFilesError(`${indexPath}: cannot read the shard index (${(e as Error).message})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) throw new CheckpointFilesError(`${indexPath}: no "weight_map" object (tensor name → shard file)`);
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== "string" || file === "" || basename(file) !== file || !file.endsWith(".safetensors")) {
      throw new CheckpointFilesError(`${indexPath}: tensor "${name}" maps to ${JSON.stringify(file)}, not a .safetensors file name beside the index`);
    }
    weightMap.set(name, file);
  }
  if (weightMap.size === 0) throw new CheckpointFilesError(`${indexPath}: the weight_map is empty`);
  return { shards: [...new Set(weightMap.values())].sort(), weightMap };
}

/** Open a sharded checkpoint from its index, checking that the index and the shards agree tensor by tensor. */
export function openShardedCheckpoint(indexPath: string): OpenCheckpoint {
  const dir = dirname(indexPath);
  const { shards, weightMap } = readShardIndex(indexPath);
  const missing = shards.filter((s) => !existsSync(join(dir, s)));
  if (missing.length) throw new CheckpointFilesError(`${indexPath} lists ${missing.length} shard(s) that are not in ${dir}: ${missing.slice(0, 4).join(", ")}${missing.length > 4 ? ", …" : ""}; download the missing files`);
  const open = openSafetensorsFiles(shards.map((s) => join(dir, s)));
  try {
    const present = new Set(open.tensors.names());
    for (const [name, shard] of weightMap) {
      const holder = open.fileOf(name);
      if (holder === undefined || basename(holder) !== shard) throw new CheckpointFilesError(`${indexPath} maps "${name}" to ${shard}, which does not hold it${holder ? ` (it is in ${basename(holder)})` : ""}`);
    }
    for (const name of present) {
      if (!weightMap.has(name)) throw new CheckpointFilesError(`${indexPath} does not list tensor "${name}" (found in a shard)`);
    }
  } catch (e) {
    open.close();
    throw e;
  }
  return open;
}

/** The weight files of a checkpoint directory: model.safetensors, else model.safetensors.index.json and its shards. */
export function checkpointWeightFiles(dir: string): { kind: "single"; path: string } | { kind: "sharded"; index: string } | null {
  if (existsSync(join(dir, SINGLE_FILE))) return { kind: "single", path: join(dir, SINGLE_FILE) };
  if (existsSync(join(dir, SHARD_INDEX))) return { kind: "sharded", index: join(dir, SHARD_INDEX) };
  return null;
}

/** Open a checkpoint directory's weights (single file or shards), headers validated, tensors read on demand. */
export function openCheckpointDir(dir: string): OpenCheckpoint {
  const where = checkpointWeightFiles(dir);
  if (!where) throw new CheckpointFilesError(`${dir} has neither ${SINGLE_FILE} nor ${SHARD_INDEX}`);
  return where.kind === "single" ? openSafetensorsFiles([where.path]) : openShardedCheckpoint(where.index);
}
