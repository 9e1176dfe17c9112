/**
 * One WebAssembly GEMM engine: the compiled module, its linear memory, and the worker pool sharing it.
 *
 * A call copies A and B (and C when accumulating) into the wasm memory — B as float32 or as 16-bit codes, which the
 * packer widens (./pack_half.ts) — — packing has to read them from there
 * anyway, and the workers cannot see the caller's arrays — cuts C into tasks (./partition.ts), runs `gemm` on
 * every task (on the calling thread and the workers, ./threads.ts), and copies C back out.
 *
 * Memory layout of one call (byte offsets, each 64-byte aligned):
 *   [ A as stored | B as stored | C | workspace of thread 0 | workspace of thread 1 | … ]
 * The memory only grows; a later, smaller product reuses the front of it.
 */
import type { MatmulArgs } from "../matmul_types.ts";
import { ShapeError } from "../shape.ts";
import { B_FORMAT, EPILOGUE, GEMM_BLOCKING, gemmModuleBytes, workspaceBytes, type GemmBlocking } from "./gemm_kernel.ts";
import { geluScalar } from "../det_math.ts";
import { planTasks, type Slice } from "./partition.ts";
import { GemmWorkerPool, type GemmFunction, type GemmTask } from "./threads.ts";
import { requireWebAssembly, type WasmMemory } from "./wasm_api.ts";
import { checkMatrix, checkPointer, MemoryRegions } from "./kernel_guard.ts";

const PAGE_BYTES = 65536;
/** 4 GiB, the wasm32 limit. A shared memory reserves its maximum up front (address space only, not RAM). */
const MAX_PAGES = 65536;
/**
 * Below this many floating-point operations a product runs on the calling thread alone: waking a worker and
 * waiting for it costs tens of microseconds, which a product this small does not win back.
 */
export const THREADING_MIN_FLOPS = 4_000_000;

const align64 = (bytes: number): number => Math.ceil(bytes / 64) * 64;

export class WasmGemmEngine {
  readonly blocking: GemmBlocking = GEMM_BLOCKING;
  private readonly memory: WasmMemory;
  private readonly gemm: GemmFunction;
  /**
   * Null when this platform cannot share a WebAssembly.Memory between threads, or when worker threads failed to
   * start: then every slice runs on the calling thread, one after the other (with the same results).
   */
  private pool: GemmWorkerPool | null;

  /** `relaxedMadd`: the opt-in relaxed-SIMD micro-kernel (results depend on the CPU; see ./micro_kernel.ts). */
  constructor(options: { relaxedMadd?: boolean } = {}) {
    const wasm = requireWebAssembly();
    const shared = sharedMemorySupported();
    this.memory = new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared });
    const module = new wasm.Module(gemmModuleBytes(this.blocking, { initialPages: 1, maximumPages: MAX_PAGES, shared }, { relaxedMadd: options.relaxedMadd ?? false }));
    this.gemm = new wasm.Instance(module, { env: { memory: this.memory } }).exports.gemm as GemmFunction;
    this.pool = shared ? new GemmWorkerPool(module, this.memory) : null;
  }

  /** Worker threads currently alive (the calling thread not counted). */
  get workerCount(): number {
    return this.pool?.size ?? 0;
  }

  /**
   * C (+)= op(A)·op(B) using at most `threads` threads (this one included); with `gelu`, C = gelu(that), applied
   * by each thread to the slices it computed (./gelu_kernel.ts).
   */
  multiply(args: MatmulArgs, threads: number, gelu = false): void {
    this.run(args, args.b, B_FORMAT.f32, threads, gelu);
  }

  /**
   * The same with B given as 16-bit codes (F16 or BF16): B is staged at 2 bytes per value and each panel is widened
   * to float32 as it is packed, so the result is bit for bit that of `multiply` with B decoded up front.
   */
  multiplyHalfB(args: Omit<MatmulArgs, "b"> & { b: Uint16Array }, format: "f16" | "bf16", threads: number, gelu = false): void {
    this.run(args, args.b, format === "f16" ? B_FORMAT.f16 : B_FORMAT.bf16, threads, gelu);
  }

  private run(args: Omit<MatmulArgs, "b">, b: Float32Array | Uint16Array, bFormat: number, threads: number, gelu: boolean): void {
    const { a, c, m, n, k } = args;
    const transA = args.transA ?? false;
    const transB = args.transB ?? false;
    const accumulate = args.accumulate ?? false;
    checkArgs({ ...args, b: b as Float32Array });
    const bBytes = bFormat === B_FORMAT.f32 ? 4 : 2;
    if (m === 0 || n === 0) return;
    if (k === 0) {
      if (!accumulate) c.fill(0, 0, m * n); // an empty sum (and gelu(0) = 0)
      else if (gelu) for (let i = 0; i < m * n; i++) c[i] = geluScalar(c[i]!);
      return;
    }

    const flops = 2 * m * n * k;
    const tasks = planTasks(m, n, this.pool === null || flops < THREADING_MIN_FLOPS ? 1 : threads, this.blocking);
    const threadCount = Math.min(threads, tasks.length);

    const aOffset = 64;
    const bOffset = align64(aOffset + 4 * m * k);
    const cOffset = align64(bOffset + bBytes * k * n);
    const workspaceOffset = align64(cOffset + 4 * m * n);
    const workspaceStride = align64(workspaceBytes(this.blocking));
    this.ensureBytes(workspaceOffset + threadCount * workspaceStride);
    const workspaces = Array.from({ length: threadCount }, (_, t) => workspaceOffset + t * workspaceStride);

    const heap = new Float32Array(this.memory.buffer); // a fresh view: the buffer changes when memory grows
    heap.set(a.subarray(0, m * k), aOffset / 4);
    if (bBytes === 4) heap.set((b as Float32Array).subarray(0, k * n), bOffset / 4);
    else new Uint16Array(this.memory.buffer).set((b as Uint16Array).subarray(0, k * n), bOffset / 2);
    if (accumulate) heap.set(c.subarray(0, m * n), cOffset / 4);

    // gemm's arguments for one slice of C: its corner in op(A), op(B) and C, in the storage order of each.
    const taskFor = (slice: Slice): GemmTask => [
      slice.rows, slice.cols, k,
      aOffset + 4 * (transA ? slice.rowStart : slice.rowStart * k), transA ? m : k, transA ? 1 : 0,
      bOffset + bBytes * (transB ? slice.colStart * k : slice.colStart), transB ? k : n, transB ? 1 : 0,
      cOffset + 4 * (slice.rowStart * n + slice.colStart), n, accumulate ? 1 : 0, gelu ? EPILOGUE.gelu : EPILOGUE.none, bFormat,
    ];
    const gemmTasks = tasks.map(taskFor);
    this.checkTasks(gemmTasks, { aOffset, bOffset, cOffset, m, n, k, transA, transB, bBytes }, workspaces, workspaceStride);
    const pool = threadCount > 1 ? this.poolWithWorkers(threadCount - 1) : null;
    if (pool !== null) pool.run(gemmTasks, workspaces, this.gemm);
    else for (const task of gemmTasks) this.gemm(...task, workspaces[0]!);

    c.set(heap.subarray(cOffset / 4, cOffset / 4 + m * n));
  }

  shutdown(): void {
    this.pool?.shutdown();
  }

  /**
   * Before any task runs: every task's blocks of A, B and C lie inside the copies staged for this call, and every
   * workspace inside its own slot (../kernel_guard.ts) — a slicing mistake is one error naming the argument, not a
   * trap or a silent write into a neighbouring matrix.
   */
  private checkTasks(
    tasks: GemmTask[], call: { aOffset: number; bOffset: number; cOffset: number; m: number; n: number; k: number; transA: boolean; transB: boolean; bBytes: number },
    workspaces: number[], workspaceStride: number,
  ): void {
    const { aOffset, bOffset, cOffset, m, n, k, transA, transB, bBytes } = call;
    const regions = new MemoryRegions();
    regions.stage([
      { label: "A", start: aOffset, bytes: 4 * m * k }, { label: "B", start: bOffset, bytes: bBytes * k * n }, { label: "C", start: cOffset, bytes: 4 * m * n },
      ...workspaces.map((start, t) => ({ label: `workspace ${t}`, start, bytes: workspaceStride })),
    ]);
    const bytes = this.memory.buffer.byteLength;
    for (const [rows, cols, kk, a, lda, , b, ldb, , c, ldc] of tasks as number[][]) {
      const K = "gemm";
      if (transA) checkMatrix(K, "A", a!, kk!, rows!, lda!, regions, bytes);
      else checkMatrix(K, "A", a!, rows!, kk!, lda!, regions, bytes);
      if (transB) checkMatrix(K, "B", b!, cols!, kk!, ldb!, regions, bytes, bBytes);
      else checkMatrix(K, "B", b!, kk!, cols!, ldb!, regions, bytes, bBytes);
      checkMatrix(K, "C", c!, rows!, cols!, ldc!, regions, bytes);
    }
    for (const w of workspaces) checkPointer("gemm", "workspace", w, workspaceBytes(this.blocking) / 4, regions, bytes);
  }

  /** The pool with at least `count` workers started; null (after one warning) if they cannot be started. */
  private poolWithWorkers(count: number): GemmWorkerPool | null {
    if (this.pool === null) return null;
    try {
      this.pool.ensureWorkers(count);
    } catch (error) {
      process.emitWarning(`matmul continues on one thread: ${(error as Error).message}`, "WasmMatmulWarning");
      this.pool = null;
    }
    return this.pool;
  }

  private ensureBytes(bytes: number): void {
    if (bytes > MAX_PAGES * PAGE_BYTES) {
      throw new RangeError(`matmul needs ${(bytes / 2 ** 30).toFixed(2)} GiB of WebAssembly memory, over the 4 GiB limit: split the product`);
    }
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE_BYTES));
  }
}

/** The same checks, with the same messages, as the other kernels' `checkMatmulArgs` (../matmul.ts). */
function checkArgs({ a, b, c, m, n, k }: MatmulArgs): void {
  for (const [name, value] of [["m", m], ["n", n], ["k", k]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new ShapeError(`matmul: ${name} must be a non-negative integer, got ${value}`);
  }
  if (a.length < m * k) throw new ShapeError(`matmul: A has ${a.length} elements, needs m·k = ${m}·${k}`);
  if (b.length < k * n) throw new ShapeError(`matmul: B has ${b.length} elements, needs k·n = ${k}·${n}`);
  if (c.length < m * n) throw new ShapeError(`matmul: C has ${c.length} elements, needs m·n = ${m}·${n}`);
}

/** Whether a shared WebAssembly.Memory can be created (it needs SharedArrayBuffer and the threads feature). */
function sharedMemorySupported(): boolean {
  try {
    return typeof SharedArrayBuffer === "function" && new (requireWebAssembly().Memory)({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}
