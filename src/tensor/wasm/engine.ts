/**
 * One WebAssembly GEMM engine: the compiled module, its linear memory, and the worker pool sharing it.
 *
 * A call copies A and B (and C when accumulating) into the wasm memory — packing has to read them from there
 * anyway, and the workers cannot see the caller's arrays — cuts C into per-thread slices (./partition.ts),
 * runs `gemm` on every slice (the calling thread takes the first), and copies C back out.
 *
 * Memory layout of one call (byte offsets, each 64-byte aligned):
 *   [ A as stored | B as stored | C | workspace of slice 0 | workspace of slice 1 | … ]
 * The memory only grows; a later, smaller product reuses the front of it.
 */
import type { MatmulArgs } from "../matmul_types.ts";
import { ShapeError } from "../shape.ts";
import { GEMM_BLOCKING, gemmModuleBytes, workspaceBytes, type GemmBlocking } from "./gemm_kernel.ts";
import { planSlices, type Slice } from "./partition.ts";
import { GemmWorkerPool, type GemmCallArgs } from "./threads.ts";
import { requireWebAssembly, type WasmMemory } from "./wasm_api.ts";

const PAGE_BYTES = 65536;
/** 4 GiB, the wasm32 limit. A shared memory reserves its maximum up front (address space only, not RAM). */
const MAX_PAGES = 65536;
/**
 * Below this many floating-point operations a product runs on the calling thread alone: waking a worker and
 * waiting for it costs tens of microseconds, which a product this small does not win back.
 */
export const THREADING_MIN_FLOPS = 4_000_000;

type GemmFunction = (...args: GemmCallArgs) => void;

const align64 = (bytes: number): number => Math.ceil(bytes / 64) * 64;

export class WasmGemmEngine {
  readonly blocking: GemmBlocking = GEMM_BLOCKING;
  private readonly memory: WasmMemory;
  private readonly gemm: GemmFunction;
  /** Null when this platform cannot share a WebAssembly.Memory between threads: then everything runs here. */
  private readonly pool: GemmWorkerPool | null;

  constructor() {
    const wasm = requireWebAssembly();
    const shared = sharedMemorySupported();
    this.memory = new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared });
    const module = new wasm.Module(gemmModuleBytes(this.blocking, { initialPages: 1, maximumPages: MAX_PAGES, shared }));
    this.gemm = new wasm.Instance(module, { env: { memory: this.memory } }).exports.gemm as GemmFunction;
    this.pool = shared ? new GemmWorkerPool(module, this.memory) : null;
  }

  get canUseThreads(): boolean {
    return this.pool !== null;
  }

  /** Worker threads currently alive (the calling thread not counted). */
  get workerCount(): number {
    return this.pool?.size ?? 0;
  }

  /** C (+)= op(A)·op(B) using at most `threads` threads (this one included). */
  multiply(args: MatmulArgs, threads: number): void {
    const { a, b, c, m, n, k } = args;
    const transA = args.transA ?? false;
    const transB = args.transB ?? false;
    const accumulate = args.accumulate ?? false;
    checkArgs(args);
    if (m === 0 || n === 0) return;
    if (k === 0) {
      if (!accumulate) c.fill(0, 0, m * n); // an empty sum
      return;
    }

    const flops = 2 * m * n * k;
    const wanted = this.pool === null || flops < THREADING_MIN_FLOPS ? 1 : threads;
    const slices = planSlices(m, n, wanted, this.blocking);

    const aOffset = 64;
    const bOffset = align64(aOffset + 4 * m * k);
    const cOffset = align64(bOffset + 4 * k * n);
    const workspaceOffset = align64(cOffset + 4 * m * n);
    const workspaceStride = align64(workspaceBytes(this.blocking));
    this.ensureBytes(workspaceOffset + slices.length * workspaceStride);

    const heap = new Float32Array(this.memory.buffer); // a fresh view: the buffer changes when memory grows
    heap.set(a.subarray(0, m * k), aOffset / 4);
    heap.set(b.subarray(0, k * n), bOffset / 4);
    if (accumulate) heap.set(c.subarray(0, m * n), cOffset / 4);

    const callFor = (slice: Slice, index: number): GemmCallArgs => {
      // The slice's corner in op(A), op(B) and C, in the storage order of each.
      const aCorner = aOffset + 4 * (transA ? slice.rowStart : slice.rowStart * k);
      const bCorner = bOffset + 4 * (transB ? slice.colStart * k : slice.colStart);
      const cCorner = cOffset + 4 * (slice.rowStart * n + slice.colStart);
      return [
        slice.rows, slice.cols, k,
        aCorner, transA ? m : k, transA ? 1 : 0,
        bCorner, transB ? k : n, transB ? 1 : 0,
        cCorner, n, accumulate ? 1 : 0,
        workspaceOffset + index * workspaceStride,
      ];
    };
    const calls = slices.map(callFor);
    const own = calls[0]!;
    if (calls.length === 1 || this.pool === null) this.gemm(...own);
    else this.pool.run(calls.slice(1), () => this.gemm(...own));

    c.set(heap.subarray(cOffset / 4, cOffset / 4 + m * n));
  }

  shutdown(): void {
    this.pool?.shutdown();
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
