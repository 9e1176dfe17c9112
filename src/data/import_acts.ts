/**
 * Importing activations computed elsewhere (./activation_sources.ts: .npy, safetensors, folders of shards) into
 * the activation cache, so `train`, `sweep` and `stability` run on them unchanged.
 *
 * The cache is the same format as one computed here (./activation_cache.ts): chunked safetensors files with the
 * sha256 of every chunk and of its tensor in the manifest, built in a temporary directory under a lock and renamed
 * into place, reused when the same import is asked for again. What differs is recorded in `manifest.imported`:
 *   - every source file's path, size, sha256, layout and shape (the import's identity: its key hashes them);
 *   - the user's description of the model, hook and tokens that produced the rows (sae-seeds cannot know them);
 *   - the held-out rows: the source's last rows (10% unless asked otherwise) are kept out of the training chunks,
 *     in chunks of their own, for explained variance and FVU on rows no SAE was trained on;
 *   - `ceLossScore: "unavailable"`: CE-loss and KL scores splice the reconstruction into the model's forward pass,
 *     and an import has no model. They are reported as unavailable, never estimated.
 * Rows are one token each: the token windows of the cache are 1 position long, every position a real token whose
 * id is unknown (−1) — row i of the cache is row i of the source.
 *
 * Bad rows are refused, not imported: a NaN or infinite value names the file and the row. Memory holds one chunk of
 * rows at a time; reading the source streams it (./npy.ts), so a source larger than memory imports.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { CACHE_VERSION, cacheContentHash, finished, loadActivationCache, lockOrFinished, readChunkTensor, type ActivationCache, type CacheManifest, type ImportedActivations } from "./activation_cache.ts";
import { openActivationSource, ActivationSourceError, type ActivationSource } from "./activation_sources.ts";
import { writeSafetensors } from "../gpt2/safetensors.ts";
import { writeJsonAtomic } from "./json_files.ts";
import { chunkedRows, type RowSource } from "./rows.ts";

/** The share of an import's rows kept out of training for quality metrics when --held-out-rows is not given. */
export const DEFAULT_HELD_OUT_FRACTION = 0.1;
/** What a cache's hook may be called (it names a tensor in every chunk file). */
const HOOK_NAME = /^[\w.:\-/{}[\]]{1,200}$/;
/** Chunk files of about this many bytes (bounded memory while importing and an even spread for reading). */
const CHUNK_BYTES = 64 << 20;

export interface ImportRequest {
  /** A .npy or .safetensors file, or a folder of shards. */
  source: string;
  /** Which tensor of a safetensors source (default: its only tensor). */
  tensor?: string;
  /** The hook name the cache gives the rows (default: the tensor's name, else the description's hook if it is a name, else "acts"). */
  hook?: string;
  /** What produced the rows, in the user's words: recorded, not checked. */
  description: { model: string; hook: string; tokens: string };
  /** Rows kept out of training for quality metrics (default: 10% of the rows, at least 1 when there are ≥ 2). */
  heldOutRows?: number;
  chunkRows?: number;
  /** Called while the sources are hashed (bytes) and imported (rows). */
  onProgress?: (stage: "hashing" | "importing", done: number, total: number) => void;
  /** Lines for the user (e.g. waiting for another process that is importing the same files). */
  log?: (line: string) => void;
}

/** An import refused: bad rows, a missing description, or an impossible held-out count (one line naming the fix). */
export class ImportError extends Error {
  override name = "ImportError";
}

function heldOutCount(rows: number, requested: number | undefined, where: string): number {
  if (requested !== undefined) {
    if (!Number.isSafeInteger(requested) || requested < 0 || requested >= rows) throw new ImportError(`${where}: --held-out-rows ${requested} must be an integer from 0 to ${rows - 1} (the source has ${rows} rows and training needs at least one)`);
    return requested;
  }
  return rows >= 2 ? Math.max(1, Math.floor(rows * DEFAULT_HELD_OUT_FRACTION)) : 0;
}

const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const bytesOf = (a: Float32Array | Int32Array | Uint8Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Import `req.source` into the cache root (or reuse the identical import already there). */
export function importActivations(root: string, req: ImportRequest): ActivationCache {
  let source: ActivationSource;
  try {
    source = openActivationSource(req.source, { hook: req.tensor });
  } catch (e) {
    if (e instanceof ActivationSourceError) throw new ImportError(e.message);
    throw e;
  }
  try {
    const hook = req.hook ?? source.tensor ?? (HOOK_NAME.test(req.description.hook) ? req.description.hook : "acts");
    if (!HOOK_NAME.test(hook)) throw new ImportError(`hook name ${JSON.stringify(hook)} must be 1–200 letters, digits and . _ - : / characters; pass --hook`);
    for (const [field, value] of Object.entries(req.description)) {
      if (typeof value !== "string" || value.trim() === "") throw new ImportError(`describe the activations: --${field === "hook" ? "source-hook" : field} is required (what produced them is recorded in the cache's manifest, and sae-seeds cannot know it)`);
    }
    const held = heldOutCount(source.rows, req.heldOutRows, req.source);
    const hashes = source.sha256((d, t) => req.onProgress?.("hashing", d, t));
    const sources = source.files.map((f, i) => ({ ...f, file: resolve(f.file), sha256: hashes[i]! }));
    const key = createHash("sha256").update(JSON.stringify({
      v: CACHE_VERSION, imported: sources.map((s) => s.sha256), tensor: source.tensor, hook, heldOut: held, description: req.description,
    })).digest("hex").slice(0, 16);
    const dir = join(root, key);
    const existing = finished(dir, key);
    if (existing) return loadActivationCache(dir);
    mkdirSync(root, { recursive: true });
    const got = lockOrFinished(dir, key, req.log);
    if ("manifest" in got) return loadActivationCache(dir);
    try {
      for (const name of readdirSync(root)) if (name.startsWith(`${key}.tmp-`)) rmSync(join(root, name), { recursive: true, force: true });
      if (finished(dir, key)) return loadActivationCache(dir);
      const tmp = `${dir}.tmp-${process.pid}`;
      try {
        writeImport(tmp, key, source, hook, held, sources, req, () => got.claim.heartbeat());
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      return loadActivationCache(dir);
    } finally {
      got.claim.release();
    }
  } finally {
    source.close();
  }
}

function writeImport(tmp: string, key: string, source: ActivationSource, hook: string, held: number, sources: ImportedActivations["sources"], req: ImportRequest, heartbeat: () => void): void {
  const start = performance.now();
  mkdirSync(tmp, { recursive: true });
  const d = source.d;
  const chunkRows = Math.max(1, req.chunkRows ?? Math.floor(CHUNK_BYTES / (4 * d)));
  const trainRows = source.rows - held;
  const writeChunks = (first: number, count: number, prefix: string): CacheManifest["chunks"] => {
    const chunks: CacheManifest["chunks"] = [];
    for (let r = 0; r < count; r += chunkRows) {
      const n = Math.min(chunkRows, count - r);
      const data = source.readRows(first + r, n);
      for (let i = 0; i < data.length; i++) {
        if (!Number.isFinite(data[i]!)) {
          const row = first + r + Math.floor(i / d);
          throw new ImportError(`${describeRow(source, row)} holds ${data[i]} at column ${i % d}; activations must be finite — fix or drop that row before importing`);
        }
      }
      const file = `${prefix}-${String(chunks.length).padStart(5, "0")}.safetensors`;
      const written = writeSafetensors(join(tmp, file), { [hook]: { dtype: "F32", shape: [n, d], data } });
      chunks.push({ file, rows: n, ...written, tensors: { [hook]: sha256Hex(bytesOf(data)) } });
      heartbeat();
      req.onProgress?.("importing", first + r + n, source.rows);
    }
    return chunks;
  };
  const chunks = writeChunks(0, trainRows, "chunk");
  const heldChunks = writeChunks(trainRows, held, "heldout");
  const tokensFile = "tokens.safetensors";
  const ones = new Uint8Array(trainRows).fill(1);
  const tokensSha256 = writeSafetensors(join(tmp, tokensFile), {
    tokens: { dtype: "I32", shape: [trainRows, 1], data: new Int32Array(trainRows).fill(-1) },
    mask: { dtype: "U8", shape: [trainRows, 1], data: ones },
    kind: { dtype: "U8", shape: [trainRows, 1], data: new Uint8Array(trainRows) },
    doc_index: { dtype: "I32", shape: [trainRows, 1], data: new Int32Array(trainRows).fill(-1) },
    pos_in_doc: { dtype: "I32", shape: [trainRows, 1], data: Int32Array.from({ length: trainRows }, (_, i) => i) },
  }).sha256;
  const sourceSha = createHash("sha256").update(sources.map((s) => s.sha256).join(";")).digest("hex");
  const label = sources.length === 1 ? basename(sources[0]!.file) : `${sources.length} shards in ${basename(resolve(source.path))}`;
  const manifest: CacheManifest = {
    version: CACHE_VERSION, key,
    model: { name: req.description.model, label: `${req.description.model} (imported activations)`, kind: "imported", sha256: sourceSha },
    corpus: { name: `imported: ${label}`, sha256: sourceSha, documents: 0, documentIds: [] },
    windowing: { mode: "imported", seqLen: 1, tokens: req.description.tokens },
    hooks: [hook], residual: "raw", seqLen: 1, windows: trainRows, rows: trainRows, realTokens: trainRows, dIn: d, dtype: "F32",
    chunks, tokensFile, tokensSha256, contentSha256: cacheContentHash(tokensSha256, [...chunks, ...heldChunks]),
    seconds: (performance.now() - start) / 1000,
    imported: { sources, description: req.description, heldOut: { rows: held, chunks: heldChunks }, ceLossScore: "unavailable" },
  };
  writeJsonAtomic(join(tmp, "manifest.json"), manifest);
}

function describeRow(source: ActivationSource, row: number): string {
  let first = 0;
  for (const f of source.files) {
    if (row < first + f.rows) return `${f.file} row ${row - first}${source.files.length > 1 ? ` (row ${row} of the import)` : ""}`;
    first += f.rows;
  }
  return `${source.path} row ${row}`;
}

/** Whether a cache holds imported activations (and so has no model to compute CE-loss scores with). */
export function isImported(cache: ActivationCache): boolean {
  return cache.manifest.imported !== undefined;
}

/** An imported cache's held-out rows of `hook` (checked against their hashes), or null when it holds none. */
export function heldOutRows(cache: ActivationCache, hook: string): RowSource | null {
  const imported = cache.manifest.imported;
  if (!imported) throw new ImportError(`${cache.dir} was not imported; its held-out tokens come from the corpus, not from the cache`);
  if (!cache.manifest.hooks.includes(hook)) throw new ImportError(`activation cache ${cache.dir} has no hook ${hook}; it holds ${cache.manifest.hooks.join(", ")}`);
  if (imported.heldOut.rows === 0) return null;
  return chunkedRows(imported.heldOut.chunks.map((c) => readChunkTensor(cache.dir, c, hook)), cache.manifest.dIn);
}
