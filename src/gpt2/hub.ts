/**
 * Downloading from the Hugging Face hub with @huggingface/hub.
 *
 *   downloadModel   GPT-2: config.json and model.safetensors of openai-community/<model> (as before)
 *   downloadRepo    any model repository: config.json; the weights — model.safetensors, or
 *                   model.safetensors.index.json and every shard it lists; and the tokenizer files the repo has
 *                   (tokenizer.json, tokenizer_config.json, special_tokens_map.json, generation_config.json)
 *   downloadFiles   named files of any repository (also used for SAE repositories)
 *
 * Each file streams to a temporary file in the target directory while its sha256 is computed; size and hash are
 * checked against the hub's metadata (for LFS files the hub's X-Linked-ETag is the object's sha256), and only then is
 * the file renamed into place. A file already present with the expected size (and hash, where the hub states one) is
 * not downloaded again. On any failure the temporary file is removed.
 *
 * Gated repositories (Llama, Gemma): the token comes from HF_TOKEN (or `token`); a refusal is one line saying whether
 * a token is missing or the account has not accepted the model's licence.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, rmSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { downloadFile, fileDownloadInfo, type FileDownloadInfoOutput } from "@huggingface/hub";
import { sha256File } from "./weights_location.ts";
import { readShardIndex, SHARD_INDEX, SINGLE_FILE } from "./checkpoint_files.ts";

export const MODEL_FILES = ["config.json", "model.safetensors"] as const;
export const DEFAULT_HUB_URL = "https://huggingface.co";
/** Files a model repository may have beside its weights; each is fetched when present. */
export const OPTIONAL_MODEL_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] as const;

/** A hub download that failed (unreachable, refused, or a file that does not match its size or sha256). */
export class DownloadError extends Error {
  override name = "DownloadError";
}

export interface DownloadOptions {
  model?: string;
  dir: string;
  /** Point at another hub (tests use a server on 127.0.0.1). */
  hubUrl?: string;
  /** What to tell the user when the hub cannot be reached (default: the model alternatives). */
  unreachableHint?: string;
  /** Called as each file downloads, with bytes done and the file's size. */
  onProgress?: (file: string, bytesDone: number, bytesTotal: number) => void;
  /** Access token for gated or private repositories (default: the HF_TOKEN environment variable). */
  token?: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
}

export interface DownloadedFile {
  file: string;
  bytes: number;
  sha256: string;
  /** False when an identical file was already present. */
  downloaded: boolean;
  /** Whether the hub gave a sha256 to check against (LFS files) or only a size. */
  verifiedHash: boolean;
}

/** The sha256 the hub states for an LFS file (ETag without quotes / weak prefix), or null for plain git files. */
export function expectedSha256(etag: string): string | null {
  const clean = etag.replace(/^W\//, "").replace(/"/g, "");
  return /^[0-9a-f]{64}$/.test(clean) ? clean : null;
}

/** A repository id as the hub names them: owner/name, letters, digits, - _ . only. */
export function isRepoId(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) && !name.includes("..");
}

function tokenOf(options: DownloadOptions): string | undefined {
  const t = (options.token ?? process.env.HF_TOKEN)?.trim();
  if (t === undefined || t === "") return undefined;
  if (!t.startsWith("hf_")) throw new DownloadError("HF_TOKEN does not look like a hub access token (they start with hf_); create a read token in your hub account settings");
  return t;
}

function refusal(repo: string, file: string, status: number, hubUrl: string, token: string | undefined): DownloadError {
  if (status === 401 && !token) return new DownloadError(`${repo} refused ${file} without a token (HTTP 401): it is gated or private; set HF_TOKEN to a read token of an account that has accepted its licence at ${hubUrl}/${repo}`);
  if (status === 401) return new DownloadError(`${repo} refused the token in HF_TOKEN for ${file} (HTTP 401): the token is invalid or expired; create a new read token`);
  if (status === 403) return new DownloadError(`${repo} refused ${file} (HTTP 403): the account of HF_TOKEN has not been granted access; accept the model's licence at ${hubUrl}/${repo} and wait for approval`);
  return new DownloadError(`${repo}/${file}: the hub answered HTTP ${status}`);
}

/** Metadata of one file, null when the repository has no such file. */
async function fileInfo(repo: string, file: string, options: DownloadOptions): Promise<FileDownloadInfoOutput | null> {
  const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
  const token = tokenOf(options);
  try {
    return await fileDownloadInfo({ repo, path: file, hubUrl, ...(options.revision ? { revision: options.revision } : {}), ...(token ? { accessToken: token } : {}) });
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 401 || status === 403) throw refusal(repo, file, status, hubUrl, token);
    if (status === 404) return null; // a missing repository answers 404 without EntryNotFound
    throw new DownloadError(`cannot reach ${hubUrl} for ${repo}/${file} (${(e as Error).message}); ${options.unreachableHint ?? "download elsewhere and pass the directory to --model (or --weights), or use --model random"}`);
  }
}

/**
 * Download one file of a repository into options.dir (its path inside the repository kept), verified; `known` is its
 * metadata when the caller already asked the hub.
 */
export async function downloadOne(repo: string, file: string, options: DownloadOptions, known?: FileDownloadInfoOutput): Promise<DownloadedFile> {
  const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
  const token = tokenOf(options);
  const info = known ?? (await fileInfo(repo, file, options));
  if (!info) throw new DownloadError(`${repo} has no ${file} on ${hubUrl}`);
  const expected = expectedSha256(info.etag);
  const target = join(options.dir, file);
  if (existsSync(target) && statSync(target).size === info.size) {
    const have = await sha256File(target);
    if (!expected || have === expected) return { file, bytes: info.size, sha256: have, downloaded: false, verifiedHash: expected !== null };
  }
  let blob: Blob | null;
  try {
    blob = await downloadFile({ repo, path: file, hubUrl, downloadInfo: info, xet: false, ...(options.revision ? { revision: options.revision } : {}), ...(token ? { accessToken: token } : {}) });
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 401 || status === 403) throw refusal(repo, file, status, hubUrl, token);
    throw new DownloadError(`${repo}/${file}: download failed (${(e as Error).message})`);
  }
  if (!blob) throw new DownloadError(`${repo} has no ${file} on ${hubUrl}`);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  const hash = createHash("sha256");
  let done = 0;
  try {
    const out = createWriteStream(tmp);
    const reader = blob.stream().getReader();
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) break;
      hash.update(value);
      done += value.length;
      if (!out.write(value)) await new Promise<void>((ok) => out.once("drain", () => ok()));
      options.onProgress?.(file, done, info.size);
    }
    await new Promise<void>((ok, fail) => out.end((e?: Error | null) => (e ? fail(e) : ok())));
    const sha256 = hash.digest("hex");
    if (done !== info.size) throw new DownloadError(`${file}: received ${done} bytes, the hub said ${info.size}; try again`);
    if (expected && sha256 !== expected) throw new DownloadError(`${file}: sha256 ${sha256} does not match the hub's ${expected}; the download is corrupt, try again`);
    renameSync(tmp, target);
    return { file, bytes: done, sha256, downloaded: true, verifiedHash: expected !== null };
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof DownloadError) throw e;
    throw new DownloadError(`${file}: download failed (${(e as Error).message})`);
  }
}

/** Download config.json and model.safetensors of openai-community/<model> into options.dir. */
export async function downloadModel(options: DownloadOptions): Promise<DownloadedFile[]> {
  const repo = `openai-community/${options.model ?? "gpt2"}`;
  mkdirSync(options.dir, { recursive: true });
  const results: DownloadedFile[] = [];
  for (const file of MODEL_FILES) results.push(await downloadOne(repo, file, options));
  return results;
}

/** Download the named files of `repo` (each must exist) into options.dir. */
export async function downloadFiles(repo: string, files: readonly string[], options: DownloadOptions): Promise<DownloadedFile[]> {
  mkdirSync(options.dir, { recursive: true });
  const results: DownloadedFile[] = [];
  for (const file of files) results.push(await downloadOne(repo, file, options));
  return results;
}

export interface RepoDownload {
  repo: string;
  dir: string;
  weights: "single" | "sharded";
  files: DownloadedFile[];
  /** Total bytes of the repository's files (downloaded or already present). */
  bytes: number;
}

/** What a model repository holds: its config, weights (one file or the shards of an index) and tokenizer files. */
export async function downloadRepo(repo: string, options: DownloadOptions): Promise<RepoDownload> {
  if (!isRepoId(repo)) throw new DownloadError(`"${repo}" is not a repository id (owner/name, e.g. EleutherAI/pythia-160m)`);
  const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
  mkdirSync(options.dir, { recursive: true });
  const config = await fileInfo(repo, "config.json", options);
  if (!config) throw new DownloadError(`${repo} has no config.json on ${hubUrl}: not a model repository (or the name is wrong)`);
  const files: DownloadedFile[] = [await downloadOne(repo, "config.json", options, config)];
  const single = await fileInfo(repo, SINGLE_FILE, options);
  let weights: RepoDownload["weights"];
  if (single) {
    files.push(await downloadOne(repo, SINGLE_FILE, options, single));
    weights = "single";
  } else {
    const index = await fileInfo(repo, SHARD_INDEX, options);
    if (!index) {
      const bin = await fileInfo(repo, "pytorch_model.bin", options);
      throw new DownloadError(`${repo} has neither ${SINGLE_FILE} nor ${SHARD_INDEX}${bin ? " (only pytorch_model.bin, a pickle this tool does not load)" : ""}: no safetensors weights to download`);
    }
    files.push(await downloadOne(repo, SHARD_INDEX, options, index));
    const { shards } = readShardIndex(join(options.dir, SHARD_INDEX));
    for (const shard of shards) files.push(await downloadOne(repo, shard, options));
    weights = "sharded";
  }
  for (const file of OPTIONAL_MODEL_FILES) {
    const info = await fileInfo(repo, file, options);
    if (info) files.push(await downloadOne(repo, file, options, info));
  }
  return { repo, dir: options.dir, weights, files, bytes: files.reduce((s, f) => s + f.bytes, 0) };
}

/** Where `download --model <repo>` puts a repository by default, and where `--model <repo>` looks for it. */
export function repoDir(repo: string, root = "weights"): string {
  return join(root, ...repo.split("/"));
}
