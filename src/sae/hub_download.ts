/**
 * Downloading SAE repositories from the Hugging Face hub: sparsify repositories (one folder per hookpoint,
 * e.g. EleutherAI/sae-pythia-160m-32k), dictionary_learning repositories (trainer folders with ae.pt +
 * config.json, at any depth) and SAELens folders (cfg.json + sae_weights.safetensors).
 *
 * The repository's file list comes from the hub's tree API (@huggingface/hub listFiles, recursive, at the asked
 * revision); an SAE folder is a folder holding sae.safetensors, sae_weights.safetensors or ae.pt. `hookpoint`
 * selects a folder (or everything under it); a repository with several SAE folders and no `hookpoint` is refused
 * with the list, unless `all` is set. Each file streams to a temporary file beside its target while its sha256 is
 * computed, is checked against the hub's size and (for LFS files) sha256, and only then renamed into place
 * (../gpt2/hub.ts downloadOne); a file already present with the right size and hash is not fetched again.
 */
import { listFiles } from "@huggingface/hub";
import { mkdirSync } from "node:fs";
import { join, posix } from "node:path";
import { DEFAULT_HUB_URL, DownloadError, downloadOne, type DownloadedFile } from "../gpt2/hub.ts";
import { writeJsonAtomic } from "../data/json_files.ts";
import { RELEASE_FILE, releaseRecord, resolveRelease } from "./saelens_releases.ts";

/** File names that make up an SAE in the layouts sae-seeds reads (weights first: they define a folder). */
const WEIGHT_FILES = ["sae.safetensors", "sae_weights.safetensors", "ae.pt"];
const COMPANION_FILES = ["cfg.json", "config.json", "activation_scaler.json"];

/** What to download from which repository, and where to. */
export interface SAEDownloadOptions {
  repo: string;
  /** Local directory the repository's files go into (their paths inside the repository kept). */
  dir: string;
  /** A folder of the repository: its SAE, or every SAE under it. */
  hookpoint?: string;
  revision?: string;
  /** Download every SAE folder when the repository has several and no hookpoint is given. */
  all?: boolean;
  hubUrl?: string;
  /** Called as each file downloads, with bytes done and the file's size. */
  onProgress?: (file: string, bytesDone: number, bytesTotal: number) => void;
}

export interface SAEDownload {
  files: DownloadedFile[];
  /** Local paths of the SAE folders downloaded (what `match`, `stability --saes` and `loadSAE` take). */
  saeDirs: string[];
}

/** A file of a hub repository: its path and size. */
export interface RepoFile {
  path: string;
  size: number;
}

function formatBytes(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

async function repoFiles(options: SAEDownloadOptions): Promise<RepoFile[]> {
  const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
  const files: RepoFile[] = [];
  try {
    for await (const item of listFiles({ repo: options.repo, hubUrl, recursive: true, ...(options.revision ? { revision: options.revision } : {}) })) {
      if (item.type === "file") files.push({ path: item.path, size: item.lfs?.size ?? item.size });
    }
  } catch (e) {
    throw new DownloadError(`cannot list ${options.repo}${options.revision ? `@${options.revision}` : ""} on ${hubUrl} (${(e as Error).message}); check the repository name and revision, or download the SAE folder elsewhere and pass its path`);
  }
  return files;
}

/** The files of one repository that make up its SAEs, grouped by folder. */
export function saeFolders(files: readonly RepoFile[]): Map<string, RepoFile[]> {
  const byFolder = new Map<string, RepoFile[]>();
  for (const f of files) {
    const folder = posix.dirname(f.path);
    byFolder.set(folder, [...(byFolder.get(folder) ?? []), f]);
  }
  const out = new Map<string, RepoFile[]>();
  for (const [folder, inside] of [...byFolder].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))) {
    if (!inside.some((f) => WEIGHT_FILES.includes(posix.basename(f.path)))) continue;
    out.set(folder, inside.filter((f) => WEIGHT_FILES.includes(posix.basename(f.path)) || COMPANION_FILES.includes(posix.basename(f.path))));
  }
  return out;
}

/** Download the SAE folder(s) of a hub repository into options.dir. */
export async function downloadSAERepo(options: SAEDownloadOptions): Promise<SAEDownload> {
  const files = await repoFiles(options);
  const folders = saeFolders(files);
  if (folders.size === 0) throw new DownloadError(`${options.repo} has no SAE files (sae.safetensors, sae_weights.safetensors or ae.pt) in any folder`);
  let chosen = [...folders.keys()];
  const list = (names: string[]) => names.slice(0, 12).map((n) => `${n === "." ? "(top level)" : n} (${formatBytes(folders.get(n)!.reduce((a, f) => a + f.size, 0))})`).join(", ") + (names.length > 12 ? `, … ${names.length - 12} more` : "");
  if (options.hookpoint !== undefined) {
    const h = options.hookpoint.replace(/^\/+|\/+$/g, "");
    chosen = chosen.filter((f) => f === h || f.startsWith(`${h}/`));
    if (chosen.length === 0) throw new DownloadError(`${options.repo} has no SAE folder "${options.hookpoint}"; it has ${list([...folders.keys()])}`);
  } else if (chosen.length > 1 && !options.all) {
    const total = chosen.reduce((a, n) => a + folders.get(n)!.reduce((s, f) => s + f.size, 0), 0);
    throw new DownloadError(`${options.repo} holds ${chosen.length} SAEs (${formatBytes(total)} in all): ${list(chosen)}; choose one with --hookpoint, or pass --all`);
  }
  const wanted = chosen.flatMap((f) => folders.get(f)!);
  // A sparsify repository keeps the training run's config.json at the top: it names the model.
  const top = files.find((f) => f.path === "config.json");
  if (top && !wanted.includes(top)) wanted.push(top);
  mkdirSync(options.dir, { recursive: true });
  const downloaded: DownloadedFile[] = [];
  for (const f of wanted) {
    downloaded.push(await downloadOne(options.repo, f.path, {
      dir: options.dir, hubUrl: options.hubUrl, revision: options.revision, onProgress: options.onProgress,
      unreachableHint: "download the SAE folder elsewhere and pass its path to match / stability --saes",
    }));
  }
  return { files: downloaded, saeDirs: chosen.map((f) => (f === "." ? options.dir : join(options.dir, f))) };
}


/** A SAELens release download: the table, the release and the SAE id. */
export interface ReleaseDownloadOptions extends Omit<SAEDownloadOptions, "repo" | "hookpoint" | "all"> {
  /** The parsed release table (pretrained_saes.yaml) and where it came from (for messages). */
  table: unknown;
  tableSource: string;
  release: string;
  saeId: string;
}

/**
 * Download one SAE of a SAELens release (the table says which repository and folder) into options.dir, and record
 * the table's entry beside it (saelens_release.json: config_overrides and norm_scaling_factor, which the SAELens
 * reader applies as SAE.from_pretrained does).
 */
export async function downloadSAELensRelease(options: ReleaseDownloadOptions): Promise<SAEDownload & { repoId: string; path: string }> {
  const entry = resolveRelease(options.table, options.release, options.saeId, options.tableSource);
  const got = await downloadSAERepo({ ...options, repo: entry.repoId, hookpoint: entry.path });
  const exact = got.saeDirs.filter((d) => d === join(options.dir, entry.path));
  if (exact.length !== 1) throw new DownloadError(`${entry.repoId}: the release table's path "${entry.path}" is not one SAE folder (found ${got.saeDirs.length} under it)`);
  writeJsonAtomic(join(exact[0]!, RELEASE_FILE), releaseRecord(entry, options.revision ?? null));
  return { ...got, saeDirs: exact, repoId: entry.repoId, path: entry.path };
}
