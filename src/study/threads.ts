/** Thread count: --threads N, else SAE_SEEDS_THREADS, else all cores (applied to the matmul kernels). */
import os from "node:os";
import { SettingsError } from "./value_rules.ts";
import { setThreads } from "../tensor/wasm/index.ts";

let applied: number | null = null;

/** Set the matmul thread count from a flag, else SAE_SEEDS_THREADS (unset: all cores); returns what was asked (0 = default). */
export function applyThreads(flag: number | undefined): number {
  const fromEnv = process.env.SAE_SEEDS_THREADS;
  const n = flag ?? (fromEnv !== undefined ? Number(fromEnv) : undefined);
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 1)) throw new SettingsError(`thread count must be a positive integer, got ${flag ?? fromEnv}`);
  applied = n ?? null;
  if (n !== undefined) setThreads(n); // the matmul kernel's own setting (it reads SAE_SEEDS_THREADS by itself too)
  return n ?? 0;
}

/** The thread count in force: the requested one, else every core. */
export function threadCount(): number {
  return applied ?? os.availableParallelism();
}

/**
 * How many runs a sweep trains at once (forked processes): --processes N, else one per thread in force. Measured on
 * the 2-core machines (see the README's performance notes): two runs side by side beat one run on two matmul threads
 * for every SAE size the study uses, because sparse decode/backward and Adam are single-threaded JavaScript.
 */
export function processCount(flag: number | undefined): number {
  if (flag !== undefined && (!Number.isSafeInteger(flag) || flag < 1)) throw new SettingsError(`--processes must be a positive integer, got ${flag}`);
  return flag ?? threadCount();
}
