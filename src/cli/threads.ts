/** Thread count: --threads N, else SAE_SEEDS_THREADS, else all cores (applied to the matmul kernels). */
import os from "node:os";
import { UsageError } from "./args.ts";

let applied: number | null = null;

export function applyThreads(flag: number | undefined): number {
  const fromEnv = process.env.SAE_SEEDS_THREADS;
  const n = flag ?? (fromEnv !== undefined ? Number(fromEnv) : undefined);
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 1)) throw new UsageError(`thread count must be a positive integer, got ${flag ?? fromEnv}`);
  applied = n ?? null;
  return n ?? 0;
}

export function requestedThreads(): number | null {
  return applied;
}

/** The thread count in force: the requested one, else every core. */
export function threadCount(): number {
  return applied ?? os.availableParallelism();
}
