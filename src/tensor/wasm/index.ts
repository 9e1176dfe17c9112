/**
 * The fast matmul kernels: WebAssembly SIMD (f32x4), packed and cache-blocked, on every core.
 *
 *   wasmMatmul         all threads (the default kernel when `wasmSimdAvailable()`)
 *   wasmMatmulSingle   the calling thread only
 *
 * Both implement the MatmulKernel contract (../matmul_types.ts) and give bit-identical results for any thread
 * count. Thread count: `setThreads(n)`, else the SAE_SEEDS_THREADS environment variable, else
 * `os.availableParallelism()`. Idle worker threads never keep the process alive; `shutdownThreads()` ends them
 * now and releases the wasm memory (the next call starts again).
 *
 * How it works: ./emitter.ts writes WebAssembly bytes; ./micro_kernel.ts, ./pack.ts and ./gemm_kernel.ts emit
 * the GEMM; ./partition.ts splits C between threads; ./threads.ts runs the slices; ./engine.ts ties them up.
 */
import os from "node:os";
import type { MatmulArgs, MatmulKernel } from "../matmul_types.ts";
import { WasmGemmEngine } from "./engine.ts";
import { GEMM_BLOCKING, gemmModuleBytes } from "./gemm_kernel.ts";
import { MAX_WORKERS } from "./threads.ts";
import { webAssembly } from "./wasm_api.ts";

let engine: WasmGemmEngine | null = null;
let threadOverride: number | null = null;
let relaxedMadd = false;

function getEngine(): WasmGemmEngine {
  engine ??= new WasmGemmEngine({ relaxedMadd });
  return engine;
}

/** Whether this runtime compiles relaxed SIMD (Node ≥ 22, or Node 20 with --experimental-wasm-relaxed-simd). */
export function relaxedSimdAvailable(): boolean {
  try {
    return webAssembly !== undefined && webAssembly.validate(gemmModuleBytes(GEMM_BLOCKING, { initialPages: 1, maximumPages: 1, shared: false }, { relaxedMadd: true }));
  } catch {
    return false;
  }
}

/**
 * Opt in to the relaxed-SIMD micro-kernel (f32x4.relaxed_madd: fused multiply-add where the CPU has FMA). Faster, but
 * its results depend on the CPU, so it is never the default and its kernel name ("wasm-simd-relaxed", in every
 * receipt) says so. Takes effect for the engine created next (the current one is shut down).
 */
export function useRelaxedSimd(on: boolean): void {
  if (on === relaxedMadd) return;
  if (on && !relaxedSimdAvailable()) throw new Error("relaxed SIMD is not available in this runtime: use Node 22 or later, or start Node 20 with --experimental-wasm-relaxed-simd");
  shutdownThreads();
  relaxedMadd = on;
}

let simdAvailable: boolean | null = null;

/** Whether this runtime can compile the module (WebAssembly with 128-bit SIMD). Checked once. */
export function wasmSimdAvailable(): boolean {
  if (simdAvailable === null) {
    try {
      simdAvailable = webAssembly !== undefined && webAssembly.validate(gemmModuleBytes(GEMM_BLOCKING, { initialPages: 1, maximumPages: 1, shared: false }));
    } catch {
      simdAvailable = false;
    }
  }
  return simdAvailable;
}

function checkThreadCount(n: number, source: string): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_WORKERS + 1) throw new RangeError(`${source}: thread count must be an integer in 1..${MAX_WORKERS + 1}, got ${n}`);
  return n;
}

/** Use at most `n` threads (the calling thread included) for `wasmMatmul`. */
export function setThreads(n: number): void {
  threadOverride = checkThreadCount(n, "setThreads");
}

/** The thread count `wasmMatmul` uses: setThreads(), else SAE_SEEDS_THREADS, else every core. */
export function getThreads(): number {
  if (threadOverride !== null) return threadOverride;
  const fromEnv = process.env.SAE_SEEDS_THREADS;
  if (fromEnv !== undefined && fromEnv.trim() !== "") return checkThreadCount(Number(fromEnv), "SAE_SEEDS_THREADS");
  return os.availableParallelism();
}

/**
 * End the worker threads now and let the WebAssembly memory (which only grows, to the largest product seen) be
 * garbage-collected. The next call sets everything up again (tens of milliseconds).
 */
export function shutdownThreads(): void {
  engine?.shutdown();
  engine = null;
}

/** Worker threads alive right now (0 before the first threaded call and after `shutdownThreads()`). */
export function workerThreadCount(): number {
  return engine?.workerCount ?? 0;
}

export const wasmMatmul: MatmulKernel = (args) => getEngine().multiply(args, getThreads());

export const wasmMatmulSingle: MatmulKernel = (args) => getEngine().multiply(args, 1);

/** C = gelu(C (+) op(A)·op(B)): the GELU runs inside the kernel, on every thread (GPT-2's MLP). */
export const wasmMatmulGelu: MatmulKernel = (args) => getEngine().multiply(args, getThreads(), true);

/** C (+)= op(A)·op(B) with B as F16/BF16 codes, widened panel by panel while packing; `gelu` as wasmMatmulGelu. */
export function wasmMatmulHalf(args: Omit<MatmulArgs, "b"> & { b: Uint16Array; bFormat: "f16" | "bf16" }, gelu = false): void {
  getEngine().multiplyHalfB(args, args.bFormat, getThreads(), gelu);
}
