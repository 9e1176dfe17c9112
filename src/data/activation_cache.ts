/**
 * The activation cache: token windows streamed through GPT-2 in batches, every requested hook captured in the
 * same pass (the forward stops at the deepest one), written as chunked safetensors files plus a manifest that
 * says exactly what produced them (weights sha256, corpus sha256, hooks, residual convention, windowing).
 * A cache whose manifest matches the request is reused instead of recomputed. Memory stays bounded by the chunk
 * size, not the corpus: rows are flushed to disk every `chunkRows`.
 *
 * Rows are stored for every position of every window (BOS and padding included), so row = window·seqLen + pos
 * everywhere; which rows an SAE trains on is decided later (selectTrainingRows), and recorded.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { forward, type ResidualConvention } from "../gpt2/model.ts";
import type { LoadedModel } from "../gpt2/loader.ts";
import { blocksNeededFor } from "../gpt2/hooks.ts";
import { openSafetensors, writeSafetensors } from "../gpt2/safetensors.ts";
import { writeJsonAtomic } from "./json_files.ts";
import type { TokenWindows } from "./windows.ts";
import type { RowSource } from "./rows.ts";
import { chunkedRows } from "./rows.ts";

export const CACHE_VERSION = 1;

export interface CacheRequest {
  model: LoadedModel;
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
  onProgress?: (tokensDone: number, tokensTotal: number) => void;
}

export interface CacheManifest {
  version: number;
  key: string;
  model: { label: string; kind: string; sha256: string };
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
  chunks: { file: string; rows: number }[];
  tokensFile: string;
  seconds: number;
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
      const chunks = manifest.chunks.map((c) => {
        const file = openSafetensors(join(dir, c.file));
        try {
          return file.readFloat32(hook);
        } finally {
          file.close();
        }
      });
      return chunkedRows(chunks, manifest.dIn);
    },
  };
}

/** Re-open a finished cache directory (e.g. `train --acts DIR`), windows included. */
export function loadActivationCache(dir: string): ActivationCache {
  const manifest = readManifest(dir);
  if (!manifest) throw new Error(`${dir} is not an activation cache (no readable manifest.json); build one with \`sae-seeds cache\``);
  const file = openSafetensors(join(dir, manifest.tokensFile));
  try {
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
  } finally {
    file.close();
  }
}

/** Build (or reuse) the cache for a request under `root`. */
export function buildActivationCache(root: string, req: CacheRequest): ActivationCache {
  const key = cacheKey(req);
  const dir = join(root, key);
  const existing = readManifest(dir);
  if (existing && existing.key === key && existing.version === CACHE_VERSION) return openCache(dir, existing, req.windows);

  const { model, windows, hooks, residual } = req;
  const config = model.weights.config;
  for (const h of hooks) blocksNeededFor(h, config); // validates names before any work
  const seqLen = windows.seqLen;
  const d = config.nEmbd;
  const batchWindows = req.batchWindows ?? 16;
  const chunkRows = Math.max(seqLen, Math.floor((req.chunkRows ?? 65_536) / seqLen) * seqLen);
  // Build in a temporary directory and rename at the end: a half-built cache never looks complete.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const start = performance.now();
  const chunks: { file: string; rows: number }[] = [];
  let buffers = hooks.map(() => new Float32Array(chunkRows * d));
  let filled = 0;
  const flush = () => {
    if (filled === 0) return;
    const file = `chunk-${String(chunks.length).padStart(5, "0")}.safetensors`;
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    hooks.forEach((h, i) => (tensors[h] = { dtype: "F32", shape: [filled, d], data: buffers[i]!.subarray(0, filled * d) }));
    writeSafetensors(join(tmp, file), tensors);
    chunks.push({ file, rows: filled });
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
    req.onProgress?.((w0 + nw) * seqLen, totalTokens);
  }
  flush();
  writeSafetensors(join(tmp, "tokens.safetensors"), {
    tokens: { dtype: "I32", shape: [windows.nWindows, seqLen], data: windows.tokens },
    mask: { dtype: "U8", shape: [windows.nWindows, seqLen], data: windows.mask },
    kind: { dtype: "U8", shape: [windows.nWindows, seqLen], data: windows.kind },
    doc_index: { dtype: "I32", shape: [windows.nWindows, seqLen], data: windows.docIndex },
    pos_in_doc: { dtype: "I32", shape: [windows.nWindows, seqLen], data: windows.posInDoc },
  });
  const manifest: CacheManifest = {
    version: CACHE_VERSION, key,
    model: { label: model.label, kind: model.kind, sha256: model.sha256 },
    corpus: req.corpus, windowing: req.windowing, hooks, residual, seqLen,
    windows: windows.nWindows, rows: windows.nWindows * seqLen, realTokens: windows.realTokens, dIn: d, dtype: "F32",
    chunks, tokensFile: "tokens.safetensors", seconds: (performance.now() - start) / 1000,
  };
  writeJsonAtomic(join(tmp, "manifest.json"), manifest);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return openCache(dir, manifest, windows);
}
