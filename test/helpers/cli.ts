/** Run the `sae-seeds` CLI in a child process from any working directory, as a user would. */
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export const PROJECT_ROOT = join(import.meta.dirname, "..", "..");
export const CLI_ENTRY = join(PROJECT_ROOT, "src", "cli", "main.ts");
/** tsx's loader by absolute URL, so the child needs no node_modules of its own in its working directory. */
export const TSX_LOADER = pathToFileURL(join(PROJECT_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

export function runCli(args: string[], options: CliOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ["--import", TSX_LOADER, CLI_ENTRY, ...args], {
    cwd: options.cwd ?? PROJECT_ROOT, encoding: "utf8", timeout: options.timeoutMs ?? 120_000,
    env: { ...process.env, ...options.env },
  });
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The same, without blocking this process (needed when this process also serves the child, e.g. a loopback server). */
export function runCliAsync(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, CLI_ENTRY, ...args], {
      cwd: options.cwd ?? PROJECT_ROOT, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
