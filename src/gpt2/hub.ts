/**
 * Downloading GPT-2 from the Hugging Face hub with @huggingface/hub: `config.json` and `model.safetensors` of
 * `openai-community/<model>`. Each file streams to a temporary file in the target directory while its sha256 is
 * computed; size and hash are checked against the hub's metadata (for LFS files the hub's X-Linked-ETag is the
 * object's sha256), and only then is the file renamed into place. A file already present with the expected
 * size and hash is not downloaded again. On any failure the temporary file is removed.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, rmSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { downloadFile, fileDownloadInfo } from "@huggingface/hub";
import { sha256File } from "./weights_location.ts";

export const MODEL_FILES = ["config.json", "model.safetensors"] as const;
export const DEFAULT_HUB_URL = "https://huggingface.co";

/** A hub download that failed (unreachable, refused, or a file that does not match its size or sha256). */
export class DownloadError extends Error {
  override name = "DownloadError";
}

export interface DownloadOptions {
  model?: string;
  dir: string;
  /** Point at another hub (tests use a server on 127.0.0.1). */
  hubUrl?: string;
  /** Branch, tag or commit (default main). */
  revision?: string;
  /** What to tell the user when the hub cannot be reached (default: the GPT-2 alternatives). */
  unreachableHint?: string;
  /** Called as each file downloads, with bytes done and the file's size. */
  onProgress?: (file: string, bytesDone: number, bytesTotal: number) => void;
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

/** Download one file of a repository into options.dir (its path inside the repository kept), verified. */
export async function downloadOne(repo: string, file: string, options: DownloadOptions): Promise<DownloadedFile> {
  const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
  const revision = options.revision;
  let info;
  try {
    info = await fileDownloadInfo({ repo, path: file, hubUrl, ...(revision ? { revision } : {}) });
  } catch (e) {
    throw new DownloadError(`cannot reach ${hubUrl} for ${repo}/${file} (${(e as Error).message}); ${options.unreachableHint ?? "download elsewhere and pass --weights DIR, or use --model random"}`);
  }
  if (!info) throw new DownloadError(`${repo} has no ${file} on ${hubUrl}`);
  const expected = expectedSha256(info.etag);
  const target = join(options.dir, file);
  if (existsSync(target) && statSync(target).size === info.size) {
    const have = await sha256File(target);
    if (!expected || have === expected) return { file, bytes: info.size, sha256: have, downloaded: false, verifiedHash: expected !== null };
  }
  const blob = await downloadFile({ repo, path: file, hubUrl, downloadInfo: info, xet: false, ...(revision ? { revision } : {}) });
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
