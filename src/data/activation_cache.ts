/**
 * The activation cache: token windows streamed through GPT-2 in batches, every requested hook captured in the
 * same pass (the forward stops at the deepest one), written as chunked safetensors files plus a manifest that
 * says exactly what produced them (weights sha256, corpus sha256, hooks, residual convention, windowing).
 * A cache whose manifest matches the request is reused instead of recomputed. Memory stays bounded by the chunk
 * size, not the corpus: rows are flushed to disk every `chunkRows`.
 *
 * Rows are stored for every position of every window (BOS and padding included), so row = window·seqLen + pos
 * everywhere; which rows an SAE trains on is decided later (selectTrainingRows), and recorded.
 *
 * Integrity: the manifest holds the sha256 of every chunk file, of each hook's tensor inside it, and of the tokens
 * file, and a content hash over them that every run's receipt records. Every read of a hook's rows hashes exactly the
 * bytes it read (no extra I/O) and compares, so a chunk changed after the build is one clear error, not silently
 * different training data.
 *
 * Concurrency: several processes (a sweep's shards, on several machines sharing the directory) may ask for the same
 * cache at once. One of them builds it, holding `<key>.lock` (see file_lock.ts), in a temporary directory renamed
 * into place at the end; the others wait for it. A build that fails removes its temporary directory, and the next
 * builder removes any left by a builder that was killed.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { forward, type ModelWeights, type ResidualConvention } from "../gpt2/model.ts";
import type { LoadedModel } from "../gpt2/loader.ts";
import { blocksNeededFor } from "../gpt2/hooks.ts";
import { openSafetensors, parseSafetensors, SafetensorsError, writeSafetensors } from "../gpt2/safetensors.ts";
import { writeJsonAtomic } from "./json_files.ts";
import type { TokenWindows } from "./windows.ts";
import type { RowSource } from "./rows.ts";
import { chunkedRows } from "./rows.ts";
import { describeOwner, sleepSync, tryClaim, type Claim } from "./file_lock.ts";

/** 2: chunk and tokens sha256 in the manifest. */
export const CACHE_VERSION = 2;

/** What the cache needs of a model: its weights and identity (a LoadedModel of any family). */
export type CacheModel = Pick<LoadedModel, "name" | "label" | "kind" | "sha256"> & { weights: ModelWeights };

export interface CacheRequest {
  model: CacheModel;
  corpus: { name: string; sha256: string; documents: number; documentIds: string[] };
  windows: TokenWindows;
  /** How the windows were made (seq_len, max tokens, faithful mode…): part of the cache key. */
  windowing: Record<string, unknown>;
  hooks: string[];
  residual: ResidualConvention;
  /** Windows per forward pass. */
  batchWindows?: number;
  /** Rows per chunk file (bounded memory). */
  chunkRows?: number;
  /** Called as the forward passes advance, with tokens done and the total. */
  onProgress?: (tokensDone: number, tokensTotal: number) => void;
}

export interface CacheManifest {
  version: number;
  key: string;
  model: { name: string; label: string; kind: string; sha256: string };
  corpus: { name: string; sha256: string; documents: number; documentIds: string[] };
  windowing: Record<string, unknown>;
  hooks: string[];
  residual: ResidualConvention;
  seqLen: number;
  windows: number;
  rows: number;
  realTokens: number;
  dIn: number;
  dtype: "F32";
  /** Each chunk file's size and sha256, and the sha256 of each hook's tensor bytes in it (checked on every read). */
  chunks: { file: string; rows: number; bytes: number; sha256: string; tensors: Record<string, string> }[];
  tokensFile: string;
  tokensSha256: string;
  /** sha256 over the tokens file's and every chunk's sha256, in order: what a run's receipt records. */
  contentSha256: string;
  seconds: number;
  /** Present when the rows were imported from files computed elsewhere (./import_acts.ts), not computed here. */
  imported?: ImportedActivations;
}

/** Where imported activations came from, and the rows held out for quality metrics. */
export interface ImportedActivations {
  /** Each source file: path as given, size, sha256, layout (dtype, order), shape, rows. */
  sources: { file: string; bytes: number; sha256: string; format: string; layout: string; shape: number[]; rows: number }[];
  /** The user's description: which model and hook produced them, on which tokens. */
  description: { model: string; hook: string; tokens: string };
  /** The last rows of the source, kept out of training for explained variance / FVU (chunks like `chunks`). */
  heldOut: { rows: number; chunks: CacheManifest["chunks"] };
  /** CE-loss and KL scores need the model's forward pass, which an import does not have: always unavailable. */
  ceLossScore: "unavailable";
}

/** An activation cache on disk whose files do not match its manifest (sizes or hashes): rebuild it. */
export class CacheIntegrityError extends Error {
  override name = "CacheIntegrityError";
}

/** The content hash of a cache from its files' hashes. */
export function cacheContentHash(tokensSha256: string, chunks: readonly { sha256: string }[]): string {
  const h = createHash("sha256").update(`tokens:${tokensSha256};`);
  chunks.forEach((c, i) => h.update(`chunk${i}:${c.sha256};`));
  return h.digest("hex");
}

const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const bytesOf = (a: Float32Array | Int32Array | Uint8Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function integrityError(dir: string, file: string): CacheIntegrityError {
  return new CacheIntegrityError(`activation cache file ${join(dir, file)} does not match the sha256 in its manifest (it changed after the cache was built); delete ${dir} and rerun to rebuild it`);
}

/** One hook's rows of one chunk, checked against the hash of that tensor's bytes. @internal */
export function readChunkTensor(dir: string, chunk: CacheManifest["chunks"][number], hook: string): Float32Array {
  const path = join(dir, chunk.file);
  if (!existsSync(path)) throw new CacheIntegrityError(`activation cache ${dir} is missing ${chunk.file}; delete ${dir} and rerun to rebuild it`);
  let data: Float32Array;
  try {
    const file = openSafetensors(path);
    try {
      data = file.readFloat32(hook);
    } finally {
      file.close();
    }
  } catch (e) {
    if (e instanceof SafetensorsError) throw integrityError(dir, chunk.file);
    throw e;
  }
  if (sha256Hex(bytesOf(data)) !== chunk.tensors[hook]) throw integrityError(dir, chunk.file);
  return data;
}

/** A stable key for a request: the same inputs always give the same cache directory. */
export function cacheKey(req: Omit<CacheRequest, "windows" | "onProgress" | "batchWindows" | "chunkRows">): string {
  const canonical = JSON.stringify({
    v: CACHE_VERSION, model: req.model.sha256, corpus: req.corpus.sha256, windowing: req.windowing,
    hooks: [...req.hooks].sort(), residual: req.residual,
  });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

export interface ActivationCache {
  dir: string;
  manifest: CacheManifest;
  /** All rows of one hook, read from the chunk files. */
  rows(hook: string): RowSource;
  /** The content hash of what rows(hook) returns and of the token windows: what a run on this hook read. */
  hookSha256(hook: string): string;
  windows: TokenWindows;
}

function readManifest(dir: string): CacheManifest | null {
  const path = join(dir, "manifest.json");
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as CacheManifest;
  } catch {
    return null;
  }
}

function openCache(dir: string, manifest: CacheManifest, windows: TokenWindows): ActivationCache {
  return {
    dir,
    manifest,
    windows,
    rows(hook: string) {
      if (!manifest.hooks.includes(hook)) throw new Error(`activation cache ${dir} has no hook ${hook}; it holds ${manifest.hooks.join(", ")}`);
      const chunks = manifest.chunks.map((c) => readChunkTensor(dir, c, hook));
      return chunkedRows(chunks, manifest.dIn);
    },
    hookSha256(hook: string) {
      if (!manifest.hooks.includes(hook)) throw new Error(`activation cache ${dir} has no hook ${hook}; it holds ${manifest.hooks.join(", ")}`);
      const h = createHash("sha256").update(`tokens:${manifest.tokensSha256};rows:${manifest.rows};dIn:${manifest.dIn};`);
      manifest.chunks.forEach((c, i) => h.update(`chunk${i}:${c.rows}:${c.tensors[hook]};`));
      return h.digest("hex");
    },
  };
}

/** Re-open a finished cache directory (e.g. `train --acts DIR`), windows included. */
export function loadActivationCache(dir: string): ActivationCache {
  const manifest = readManifest(dir);
  if (!manifest) throw new Error(`${dir} is not an activation cache (no readable manifest.json); build one with \`sae-seeds cache\``);
  if (manifest.version !== CACHE_VERSION) throw new Error(`${dir} is an activation cache of format ${manifest.version}, this version reads ${CACHE_VERSION}; delete it and rebuild it (\`sae-seeds cache\` or rerun the sweep)`);
  const tokensPath = join(dir, manifest.tokensFile);
  const tokensBytes = existsSync(tokensPath) ? new Uint8Array(readFileSync(tokensPath)) : null;
  if (!tokensBytes || sha256Hex(tokensBytes) !== manifest.tokensSha256) throw integrityError(dir, manifest.tokensFile);
  const file = parseSafetensors(tokensBytes, tokensPath);
  const kind = file.readTensor("kind").data as Uint8Array;
  let real = 0, bos = 0, pad = 0;
  for (const k of kind) k === 0 ? real++ : k === 1 ? bos++ : pad++;
  const docIndex = file.readInt32("doc_index");
  const windows: TokenWindows = {
    seqLen: manifest.seqLen, nWindows: manifest.windows, tokens: file.readInt32("tokens"), mask: file.readTensor("mask").data as Uint8Array,
    kind, docIndex, posInDoc: file.readInt32("pos_in_doc"), realTokens: real, bosTokens: bos, padTokens: pad,
    documentsUsed: new Set(Array.from(docIndex).filter((d) => d >= 0)).size,
  };
  return openCache(dir, manifest, windows);
}

/** Is `dir` a finished cache for `key` (a manifest of this version naming this key)? @internal */
export function finished(dir: string, key: string): CacheManifest | null {
  const m = readManifest(dir);
  return m && m.key === key && m.version === CACHE_VERSION ? m : null;
}

/**
 * Wait until this process holds `<dir>.lock` or the cache is finished by another (returned as the manifest). The
 * waiting is synchronous: the whole pipeline is, and there is nothing else to do until the cache exists.
  * @internal
 */
export function lockOrFinished(dir: string, key: string, log?: (line: string) => void): { claim: Claim } | { manifest: CacheManifest } {
  let said = false;
  for (;;) {
    const done = finished(dir, key);
    if (done) return { manifest: done };
    const got = tryClaim(`${dir}.lock`, `building activation cache ${key}`);
    if (got.claim) return { claim: got.claim };
    if (!said) log?.(`activation cache ${dir} is being built by another process (${describeOwner(got.heldBy)}); waiting for it`);
    said = true;
    sleepSync(1000);
  }
}

export interface BuildOptions {
  /** Lines for the user (e.g. "waiting for another process"). */
  log?: (line: string) => void;
}

/** Build (or reuse) the cache for a request under `root`. */
export function buildActivationCache(root: string, req: CacheRequest, options: BuildOptions = {}): ActivationCache {
  const key = cacheKey(req);
  const dir = join(root, key);
  const existing = finished(dir, key);
  if (existing) return openCache(dir, existing, req.windows);
  const { model, windows, hooks } = req;
  for (const h of hooks) blocksNeededFor(h, model.weights.config); // validates names before any work (or waiting)
  mkdirSync(root, { recursive: true });
  const got = lockOrFinished(dir, key, options.log);
  if ("manifest" in got) return openCache(dir, got.manifest, windows);
  const claim = got.claim;
  try {
    // Holding the lock, anything else named after this key is debris of a builder that was killed: clear it.
    for (const name of readdirSync(root)) if (name.startsWith(`${key}.tmp-`)) rmSync(join(root, name), { recursive: true, force: true });
    const again = finished(dir, key);
    if (again) return openCache(dir, again, windows);
    const tmp = `${dir}.tmp-${process.pid}`;
    try {
      const manifest = writeCache(tmp, key, req, () => claim.heartbeat());
      rmSync(dir, { recursive: true, force: true }); // an unfinished directory of an older format, if any
      renameSync(tmp, dir);
      return openCache(dir, manifest, windows);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  } finally {
    claim.release();
  }
}

/** Stream the windows through GPT-2 into chunk files in `tmp`; returns the manifest (written last). */
function writeCache(tmp: string, key: string, req: CacheRequest, heartbeat: () => void): CacheManifest {
  const { model, windows, hooks, residual } = req;
  const config = model.weights.config;
  const seqLen = windows.seqLen;
  const d = config.nEmbd;
  const batchWindows = req.batchWindows ?? 16;
  const chunkRows = Math.max(seqLen, Math.floor((req.chunkRows ?? 65_536) / seqLen) * seqLen);
  mkdirSync(tmp, { recursive: true });
  const start = performance.now();
  const chunks: CacheManifest["chunks"] = [];
  let buffers = hooks.map(() => new Float32Array(chunkRows * d));
  let filled = 0;
  const flush = () => {
    if (filled === 0) return;
    const file = `chunk-${String(chunks.length).padStart(5, "0")}.safetensors`;
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    hooks.forEach((h, i) => (tensors[h] = { dtype: "F32", shape: [filled, d], data: buffers[i]!.subarray(0, filled * d) }));
    const written = writeSafetensors(join(tmp, file), tensors);
    chunks.push({ file, rows: filled, ...written, tensors: Object.fromEntries(hooks.map((h) => [h, sha256Hex(bytesOf(tensors[h]!.data))])) });
    filled = 0;
    buffers = hooks.map(() => new Float32Array(chunkRows * d));
  };
  const totalTokens = windows.nWindows * seqLen;
  for (let w0 = 0; w0 < windows.nWindows; w0 += batchWindows) {
    const nw = Math.min(batchWindows, windows.nWindows - w0);
    const tokens = windows.tokens.subarray(w0 * seqLen, (w0 + nw) * seqLen);
    const mask = windows.mask.subarray(w0 * seqLen, (w0 + nw) * seqLen);
    const out = forward(model.weights, tokens, nw, seqLen, { hooks, residual, attentionMask: mask });
    let offset = 0;
    while (offset < nw * seqLen) {
      const take = Math.min(nw * seqLen - offset, chunkRows - filled);
      hooks.forEach((h, i) => buffers[i]!.set(out.hooks.get(h)!.subarray(offset * d, (offset + take) * d), filled * d));
      filled += take;
      offset += take;
      if (filled === chunkRows) flush();
    }
    heartbeat();
    req.onProgress?.((w0 + nw) * seqLen, totalTokens);
  }
  flush();
  const tokensFile = "tokens.safetensors";
  const tokensSha256 = writeSafetensors(join(tmp, tokensFile), {
    tokens: { dtype: "I32", shape: [windows.nWindows, seqLen], data: windows.tokens },
    mask: { dtype: "U8", shape: [windows.nWindows, seqLen], data: windows.mask },
    kind: { dtype: "U8", shape: [windows.nWindows, seqLen], data: windows.kind },
    doc_index: { dtype: "I32", shape: [windows.nWindows, seqLen], data: windows.docIndex },
    pos_in_doc: { dtype: "I32", shape: [windows.nWindows, seqLen], data: windows.posInDoc },
  }).sha256;
  const manifest: CacheManifest = {
    version: CACHE_VERSION, key,
    model: { name: model.name, label: model.label, kind: model.kind, sha256: model.sha256 },
    corpus: req.corpus, windowing: req.windowing, hooks, residual, seqLen,
    windows: windows.nWindows, rows: windows.nWindows * seqLen, realTokens: windows.realTokens, dIn: d, dtype: "F32",
    chunks, tokensFile, tokensSha256, contentSha256: cacheContentHash(tokensSha256, chunks), seconds: (performance.now() - start) / 1000,
  };
  writeJsonAtomic(join(tmp, "manifest.json"), manifest);
  return manifest;
}
