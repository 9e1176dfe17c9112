/**
 * The seed study's own corpus: where it comes from, how it is fetched, and where a copy is looked for.
 *
 * The study's Python platform bundles `data/prompts/openwebtext_sample.jsonl` (98 short hand-written sentences,
 * despite the name; MIT licence) in its public GitHub repository. We never ship it: `download --corpus seed-study`
 * fetches it from the pinned commit over HTTPS, checks its sha256 against the value pinned here, and only then
 * renames it into `corpora/seed-study/` (git-ignored) — a wrong or truncated body is an error and leaves nothing.
 * The faithful replication looks for a copy in this order: an explicit path, that download place, then
 * `../shared/data/seed-study/` (the project machines' read-only copy); failing all three it downloads when online.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "./json_files.ts";
import { dirname, resolve } from "node:path";

export interface PinnedCorpusFile {
  /** The name users type: `download --corpus <name>`. */
  name: string;
  repository: string;
  commit: string;
  path: string;
  sha256: string;
  bytes: number;
  lines: number;
  licence: string;
}

export const SEED_STUDY_CORPUS: PinnedCorpusFile = {
  name: "seed-study",
  repository: "ashlrai/mechanistic-interpretability",
  commit: "e1bf1aa5ac237049e03f253f50987237762652aa",
  path: "data/prompts/openwebtext_sample.jsonl",
  sha256: "8c6f31ff1023a97f4a28baf2419f440becbf48c030fb9ff608c8e222a3e0223b",
  bytes: 10643,
  lines: 98,
  licence: "MIT (Copyright (c) 2026 Mason Wyatt)",
};

export const PINNED_CORPORA: Record<string, PinnedCorpusFile> = { [SEED_STUDY_CORPUS.name]: SEED_STUDY_CORPUS };

/** GitHub serves a file at a commit from raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>. */
export const DEFAULT_RAW_URL = "https://raw.githubusercontent.com";

/** Where `download --corpus` stores a pinned file (relative to the working directory, like weights/gpt2). */
export function storedCorpusPath(file: PinnedCorpusFile = SEED_STUDY_CORPUS, root = "corpora"): string {
  return resolve(root, file.name, file.path.split("/").at(-1)!);
}

/** The project machines' read-only copy, beside the project root (absent on a user's clone). */
export function sharedCorpusPath(): string {
  return resolve("..", "shared", "data", "seed-study", "openwebtext_sample.jsonl");
}

/** The raw-file URL of a pinned corpus file at its commit. */
export function pinnedUrl(file: PinnedCorpusFile, rawUrl = DEFAULT_RAW_URL): string {
  return `${rawUrl.replace(/\/+$/, "")}/${file.repository}/${file.commit}/${file.path}`;
}

/** A pinned corpus that could not be downloaded or did not match its sha256. */
export class CorpusDownloadError extends Error {
  override name = "CorpusDownloadError";
}

/** sha256 of bytes, as hex. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Whether the file at `path` is the pinned one, byte for byte. */
export function isPinnedCopy(path: string, file: PinnedCorpusFile = SEED_STUDY_CORPUS): boolean {
  return existsSync(path) && sha256Of(readFileSync(path)) === file.sha256;
}

export interface CorpusDownloadOptions {
  /** Base of the raw-file server (tests use a server on 127.0.0.1). */
  rawUrl?: string;
  /** Target file (default storedCorpusPath(file)). */
  target?: string;
  /** Give up after this long (the file is 10 KB). */
  timeoutMs?: number;
}

export interface CorpusDownloadResult {
  path: string;
  url: string;
  sha256: string;
  bytes: number;
  /** False when a verified copy was already at the target. */
  downloaded: boolean;
}

/** Fetch a pinned file, verify its sha256, and rename it into place; on any failure nothing is left behind. */
export async function downloadPinnedCorpus(file: PinnedCorpusFile, options: CorpusDownloadOptions = {}): Promise<CorpusDownloadResult> {
  const target = options.target ?? storedCorpusPath(file);
  const url = pinnedUrl(file, options.rawUrl);
  if (isPinnedCopy(target, file)) return { path: target, url, sha256: file.sha256, bytes: file.bytes, downloaded: false };
  let body: Uint8Array;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    const reason = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    throw new CorpusDownloadError(`cannot download ${url} (${reason})`);
  }
  const sha256 = sha256Of(body);
  if (sha256 !== file.sha256) {
    throw new CorpusDownloadError(`${url}: sha256 ${sha256} (${body.length} bytes) is not the pinned ${file.sha256} (${file.bytes} bytes); nothing was kept — the server sent a different file`);
  }
  mkdirSync(dirname(target), { recursive: true });
  writeFileAtomic(target, body);
  return { path: target, url, sha256, bytes: body.length, downloaded: true };
}

export type CorpusOrigin = "explicit" | "downloaded" | "shared";

/**
 * The first copy of the study's corpus found: an explicit path (must exist), else the download place, else
 * ../shared. Copies found in the last two places must be the pinned bytes (a corrupt download is an error, not a
 * different experiment). null when there is none.
 */
export function locateStudyCorpus(
  explicit?: string, file: PinnedCorpusFile = SEED_STUDY_CORPUS,
  places: { downloaded: string; shared: string } = { downloaded: storedCorpusPath(file), shared: sharedCorpusPath() },
): { path: string; origin: CorpusOrigin } | null {
  if (explicit) {
    if (!existsSync(explicit)) throw new CorpusDownloadError(`the seed study's corpus ${explicit} does not exist; leave out --corpus to download it`);
    return { path: resolve(explicit), origin: "explicit" };
  }
  for (const origin of ["downloaded", "shared"] as const) {
    const path = places[origin];
    if (!existsSync(path)) continue;
    if (!isPinnedCopy(path, file)) {
      throw new CorpusDownloadError(`${path} is not the pinned ${file.name} corpus (sha256 differs from ${file.sha256}); delete it and run \`sae-seeds download --corpus ${file.name}\``);
    }
    return { path, origin };
  }
  return null;
}
