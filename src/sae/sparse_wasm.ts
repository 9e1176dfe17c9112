/**
 * The sparse products of ./latent_code.ts in WebAssembly SIMD (f32x4), emitted with the project's emitter
 * (../tensor/wasm/emitter.ts), on the calling thread:
 *
 *   decode_rows      [rowPtr, idx, val, W, bias, out, d] over rows [start, end):
 *       out[r] = bias (or 0) + Σ_{e in row r, val_e ≠ 0} val_e·W[idx_e]
 *   latent_dot_axpy  [blocks, n, colPtr, byLatent, gRow, val, grad, G, W, gradW, d] over latents [start, end):
 *       for each latent j, its entries e in row order: grad_e = G[gRow_e]·W[j]; gradW[j] += val_e·G[gRow_e]
 *       (gradW = 0: no accumulation)
 *   latent_axpy      [blocks, n, colPtr, byLatent, rowOf, coef, X, acc, d] over latents [start, end):
 *       for each latent j, its entries e in row order: acc[j] += coef_e·X[rowOf_e]   (coef_e = 0 skipped)
 * Each function takes (params, start, end) and reads the bracketed i32 arguments from the block at `params`
 * (addresses in bytes, d in elements; the latent-major index is in row blocks, ./latent_code.ts). A d-vector is processed four lanes at a time and its last d mod 4 elements
 * one at a time; a dot product is the four lane sums added (l0 + l1) + (l2 + l3), plus the scalar tail. Every
 * element's operations and their order depend only on the data, so results are the same on every run.
 *
 * Memory: every array a kernel touches must live in the module's memory. WasmArena owns one shared
 * WebAssembly.Memory and hands out Float32Array/Int32Array views into it (a shared memory grows without
 * detaching the views already handed out); StepWorkspace allocates its [rows, d_in] buffers and gradients there,
 * and arrays from elsewhere (the parameters, the codes' index arrays) are copied in per call.
 */
import { encodeModule, FunctionBuilder, ValType, type Code } from "../tensor/wasm/emitter.ts";
import { requireWebAssembly, webAssembly, type WasmMemory } from "../tensor/wasm/wasm_api.ts";
import { wasmSimdAvailable } from "../tensor/wasm/index.ts";

const PAGE = 65536;
const MAX_PAGES = 65536;
const { i32, f32, v128 } = ValType;

/** Instructions the emitter's Code has no method for (raw opcodes). */
function f32x4ExtractLane(code: Code, lane: number): void {
  code.bytes.push(0xfd, 0x1f, lane);
}
function f32Ne(code: Code): void {
  code.bytes.push(0x5c);
}
function i32LtS(code: Code): void {
  code.bytes.push(0x48);
}

/** `for (counter = start; counter < limit; counter += step) body()` over i32 locals (signed compare). */
function forRange(code: Code, counter: number, start: () => void, limit: number, step: number, body: () => void): void {
  start();
  code.localSet(counter);
  code.localGet(counter).localGet(limit);
  i32LtS(code);
  code.if();
  code.loop();
  body();
  code.localGet(counter).i32Const(step).i32Add().localTee(counter).localGet(limit);
  i32LtS(code);
  code.brIf(0);
  code.end();
  code.end();
}

/** address = base + index·stride (all i32 locals/values pushed by the callbacks). */
function rowAddress(code: Code, base: number, index: () => void, strideBytes: number): void {
  code.localGet(base);
  index();
  code.localGet(strideBytes).i32Mul().i32Add();
}

/**
 * `if (s ≠ 0) dst[0..d) += s·src[0..d)` where s is the f32 at `loadScalar`: four lanes at a time over the first
 * d − d mod 4 elements (byte offsets 0..dv), then one at a time (dv..dBytes). `srcRow` is computed once s ≠ 0.
 */
function emitScaledAdd(code: Code, locals: { s: number; ss: number; c: number; dv: number; dBytes: number; dst: number; src: number }, loadScalar: () => void, srcRow: () => void): void {
  const { s, ss, c, dv, dBytes, dst, src } = locals;
  loadScalar();
  code.localTee(s).f32Const(0);
  f32Ne(code);
  code.if();
  code.localGet(s).f32x4Splat().localSet(ss);
  srcRow();
  code.localSet(src);
  forRange(code, c, () => code.i32Const(0), dv, 16, () => {
    code.localGet(dst).localGet(c).i32Add();
    code.localGet(dst).localGet(c).i32Add().v128Load();
    code.localGet(ss).localGet(src).localGet(c).i32Add().v128Load().f32x4Mul();
    code.f32x4Add().v128Store();
  });
  forRange(code, c, () => code.localGet(dv), dBytes, 4, () => {
    code.localGet(dst).localGet(c).i32Add();
    code.localGet(dst).localGet(c).i32Add().f32Load();
    code.localGet(s).localGet(src).localGet(c).i32Add().f32Load().f32Mul();
    code.f32Add().f32Store();
  });
  code.end();
}

/** dBytes = 4·d and dv = 4·(d − d mod 4): the row length in bytes and its four-lane part. */
function emitWidths(code: Code, d: number, dBytes: number, dv: number): void {
  code.localGet(d).i32Const(2).i32Shl().localSet(dBytes);
  code.localGet(d).i32Const(-4).i32And().i32Const(2).i32Shl().localSet(dv);
}

/**
 * `for b in [0, blocks): for j in [start, end): perLatent(); for q in [colPtr[b·n+j], colPtr[b·n+j+1]):
 * e = byLatent[q]; perEntry()` — the latent-major traversal both gradient kernels share (row blocks outermost,
 * so every latent's sum runs in row order).
 */
function emitByLatent(
  code: Code, f: FunctionBuilder,
  l: { blocks: number; n: number; start: number; end: number; colPtr: number; byLatent: number; j: number; q: number; qEnd: number; e: number },
  perLatent: () => void, perEntry: () => void,
): void {
  const b = f.local(i32), base = f.local(i32);
  forRange(code, b, () => code.i32Const(0), l.blocks, 1, () => {
    code.localGet(l.colPtr).localGet(b).localGet(l.n).i32Mul().i32Const(2).i32Shl().i32Add().localSet(base); // colPtr + 4·b·n
    forRange(code, l.j, () => code.localGet(l.start), l.end, 1, () => {
      perLatent();
      code.localGet(base).localGet(l.j).i32Const(2).i32Shl().i32Add().i32Load().localSet(l.q);
      code.localGet(base).localGet(l.j).i32Const(2).i32Shl().i32Add().i32Load(4).localSet(l.qEnd);
      forRange(code, l.q, () => code.localGet(l.q), l.qEnd, 1, () => {
        code.localGet(l.byLatent).localGet(l.q).i32Const(2).i32Shl().i32Add().i32Load().localSet(l.e);
        perEntry();
      });
    });
  });
}

/** A kernel's function: (params, start, end), its other arguments read from the i32 block at `params`. */
function kernelFunction(name: string, paramCount: number): { f: FunctionBuilder; args: number[]; start: number; end: number } {
  const f = new FunctionBuilder(name, [i32, i32, i32]);
  const args = Array.from({ length: paramCount }, () => f.local(i32));
  args.forEach((local, i) => f.code.localGet(f.param(0)).i32Load(4 * i).localSet(local));
  return { f, args, start: f.param(1), end: f.param(2) };
}

function emitDecodeRows() {
  const { f, args, start, end } = kernelFunction("decode_rows", 7);
  const [rowPtr, idx, val, w, bias, out, d] = args as [number, number, number, number, number, number, number];
  const [r, e, eEnd, o, c, dv, dBytes, wRow] = Array.from({ length: 8 }, () => f.local(i32)) as [number, number, number, number, number, number, number, number];
  const z = f.local(f32), zs = f.local(v128);
  const code = f.code;
  emitWidths(code, d, dBytes, dv);
  forRange(code, r, () => code.localGet(start), end, 1, () => {
    rowAddress(code, out, () => code.localGet(r), dBytes);
    code.localSet(o);
    // out row = bias, or zeros when bias = 0 (select keeps the loaded value only when bias ≠ 0).
    forRange(code, c, () => code.i32Const(0), dBytes, 4, () => {
      code.localGet(o).localGet(c).i32Add();
      code.localGet(bias).localGet(c).i32Add().f32Load();
      code.f32Const(0);
      code.localGet(bias);
      code.select();
      code.f32Store();
    });
    code.localGet(rowPtr).localGet(r).i32Const(2).i32Shl().i32Add().i32Load().localSet(e);
    code.localGet(rowPtr).localGet(r).i32Const(2).i32Shl().i32Add().i32Load(4).localSet(eEnd);
    forRange(code, e, () => code.localGet(e), eEnd, 1, () => {
      emitScaledAdd(code, { s: z, ss: zs, c, dv, dBytes, dst: o, src: wRow },
        () => code.localGet(val).localGet(e).i32Const(2).i32Shl().i32Add().f32Load(),
        () => rowAddress(code, w, () => code.localGet(idx).localGet(e).i32Const(2).i32Shl().i32Add().i32Load(), dBytes));
    });
  });
  return f.definition();
}

function emitLatentDotAxpy() {
  const { f, args, start, end } = kernelFunction("latent_dot_axpy", 11);
  const [blocks, n, colPtr, byLatent, gRow, val, grad, G, w, gradW, d] = args as [number, number, number, number, number, number, number, number, number, number, number];
  const [j, q, qEnd, e, gAddr, wRow, gwRow, c, dv, dBytes] = Array.from({ length: 10 }, () => f.local(i32)) as [number, number, number, number, number, number, number, number, number, number];
  const z = f.local(f32), tail = f.local(f32), acc = f.local(v128), zs = f.local(v128), gv = f.local(v128), gs = f.local(f32);
  const code = f.code;
  emitWidths(code, d, dBytes, dv);
  emitByLatent(code, f, { blocks, n, start, end, colPtr, byLatent, j, q, qEnd, e }, () => {
    rowAddress(code, w, () => code.localGet(j), dBytes);
    code.localSet(wRow);
    rowAddress(code, gradW, () => code.localGet(j), dBytes);
    code.localSet(gwRow);
  }, () => {
    rowAddress(code, G, () => code.localGet(gRow).localGet(e).i32Const(2).i32Shl().i32Add().i32Load(), dBytes);
    code.localSet(gAddr);
    code.localGet(val).localGet(e).i32Const(2).i32Shl().i32Add().f32Load().localSet(z);
    code.v128ConstZero().localSet(acc);
    code.f32Const(0).localSet(tail);
    // gradW ≠ 0 and z ≠ 0: dot and accumulation in one pass; else the dot alone.
    code.localGet(gradW).i32Eqz().i32Eqz();
    code.localGet(z).f32Const(0);
    f32Ne(code);
    code.i32And().if();
    code.localGet(z).f32x4Splat().localSet(zs);
    forRange(code, c, () => code.i32Const(0), dv, 16, () => {
      code.localGet(gAddr).localGet(c).i32Add().v128Load().localSet(gv);
      code.localGet(acc).localGet(gv).localGet(wRow).localGet(c).i32Add().v128Load().f32x4Mul().f32x4Add().localSet(acc);
      code.localGet(gwRow).localGet(c).i32Add();
      code.localGet(gwRow).localGet(c).i32Add().v128Load();
      code.localGet(zs).localGet(gv).f32x4Mul().f32x4Add().v128Store();
    });
    forRange(code, c, () => code.localGet(dv), dBytes, 4, () => {
      code.localGet(gAddr).localGet(c).i32Add().f32Load().localSet(gs);
      code.localGet(tail).localGet(gs).localGet(wRow).localGet(c).i32Add().f32Load().f32Mul().f32Add().localSet(tail);
      code.localGet(gwRow).localGet(c).i32Add();
      code.localGet(gwRow).localGet(c).i32Add().f32Load();
      code.localGet(z).localGet(gs).f32Mul().f32Add().f32Store();
    });
    code.else();
    forRange(code, c, () => code.i32Const(0), dv, 16, () => {
      code.localGet(acc).localGet(gAddr).localGet(c).i32Add().v128Load().localGet(wRow).localGet(c).i32Add().v128Load().f32x4Mul().f32x4Add().localSet(acc);
    });
    forRange(code, c, () => code.localGet(dv), dBytes, 4, () => {
      code.localGet(tail).localGet(gAddr).localGet(c).i32Add().f32Load().localGet(wRow).localGet(c).i32Add().f32Load().f32Mul().f32Add().localSet(tail);
    });
    code.end();
    // grad[e] = ((l0 + l1) + (l2 + l3)) + tail
    code.localGet(grad).localGet(e).i32Const(2).i32Shl().i32Add();
    code.localGet(acc);
    f32x4ExtractLane(code, 0);
    code.localGet(acc);
    f32x4ExtractLane(code, 1);
    code.f32Add();
    code.localGet(acc);
    f32x4ExtractLane(code, 2);
    code.localGet(acc);
    f32x4ExtractLane(code, 3);
    code.f32Add().f32Add().localGet(tail).f32Add().f32Store();
  });
  return f.definition();
}

function emitLatentAxpy() {
  const { f, args, start, end } = kernelFunction("latent_axpy", 9);
  const [blocks, n, colPtr, byLatent, rowOf, coef, X, accBase, d] = args as [number, number, number, number, number, number, number, number, number];
  const [j, q, qEnd, e, xRow, aRow, c, dv, dBytes] = Array.from({ length: 9 }, () => f.local(i32)) as [number, number, number, number, number, number, number, number, number];
  const s = f.local(f32), ss = f.local(v128);
  const code = f.code;
  emitWidths(code, d, dBytes, dv);
  emitByLatent(code, f, { blocks, n, start, end, colPtr, byLatent, j, q, qEnd, e }, () => {
    rowAddress(code, accBase, () => code.localGet(j), dBytes);
    code.localSet(aRow);
  }, () => {
    emitScaledAdd(code, { s, ss, c, dv, dBytes, dst: aRow, src: xRow },
      () => code.localGet(coef).localGet(e).i32Const(2).i32Shl().i32Add().f32Load(),
      () => rowAddress(code, X, () => code.localGet(rowOf).localGet(e).i32Const(2).i32Shl().i32Add().i32Load(), dBytes));
  });
  return f.definition();
}

type Entry = (params: number, start: number, end: number) => void;
const KERNELS = ["decode_rows", "latent_dot_axpy", "latent_axpy"] as const;

let compiled: { module: object } | null = null;

function sharedMemoryAvailable(): boolean {
  try {
    return typeof SharedArrayBuffer === "function" && webAssembly !== undefined
      && new (requireWebAssembly().Memory)({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

let available: boolean | null = null;

/** Whether the WebAssembly sparse kernels can run here (SIMD and shared memories). */
export function sparseWasmAvailable(): boolean {
  available ??= wasmSimdAvailable() && sharedMemoryAvailable();
  return available;
}

/**
 * A region of one shared WebAssembly memory with the kernels instantiated on it. Allocation only grows (bump
 * allocation, 64-byte aligned); views handed out stay valid as the memory grows.
 *
 * The kernels run on the calling thread. Splitting them across threads (by rows, or by latents: the results would
 * not change) was tried with the matmul worker pool and measured no faster on this project's 2-core machines —
 * they stream rows of g, x̃ and W_dec from memory, and a second thread competes for the same bandwidth — so the
 * matmuls keep the threads.
 */
export class WasmArena {
  private readonly memory: WasmMemory;
  private readonly entries: Record<(typeof KERNELS)[number], Entry>;
  private top = 64;
  /** Every SharedArrayBuffer object the memory has had (one per growth): views over any of them are ours. */
  private readonly buffers = new Set<ArrayBufferLike>();
  private scratch = { offset: 0, bytes: 0 };
  private readonly params: number;

  constructor() {
    const wasm = requireWebAssembly();
    this.memory = new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    compiled ??= { module: new wasm.Module(encodeModule([emitDecodeRows(), emitLatentDotAxpy(), emitLatentAxpy()], { initialPages: 1, maximumPages: MAX_PAGES, shared: true })) };
    const exports = new wasm.Instance(compiled.module, { env: { memory: this.memory } }).exports;
    this.entries = Object.fromEntries(KERNELS.map((name) => [name, exports[name] as Entry])) as Record<(typeof KERNELS)[number], Entry>;
    this.buffers.add(this.memory.buffer);
    this.params = this.reserve(64);
  }

  private reserve(bytes: number): number {
    const offset = this.top;
    this.top = Math.ceil((offset + bytes) / 64) * 64;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      if (this.top > MAX_PAGES * PAGE) throw new RangeError(`SAE step buffers need ${(this.top / 2 ** 30).toFixed(2)} GiB, over WebAssembly's 4 GiB: use a smaller batch`);
      this.memory.grow(Math.ceil((this.top - have) / PAGE));
      this.buffers.add(this.memory.buffer);
    }
    return offset;
  }

  floats(length: number): Float32Array {
    const offset = this.reserve(4 * length); // first: it may grow the memory, which replaces memory.buffer
    return new Float32Array(this.memory.buffer, offset, length);
  }

  /** Whether `a` is a view into this arena's memory (then its byteOffset is its address). */
  owns(a: Float32Array | Int32Array): boolean {
    return this.buffers.has(a.buffer);
  }

  /**
   * Per-call scratch: copies of `arrays` (any typed arrays of 4-byte elements) placed one after another;
   * returns their addresses. The region is reused by the next call.
   */
  stage(arrays: (Float32Array | Int32Array)[]): number[] {
    const bytes = arrays.reduce((s, a) => s + Math.ceil((4 * a.length) / 64) * 64, 0);
    if (bytes > this.scratch.bytes) this.scratch = { offset: this.reserve(Math.max(bytes, 2 * this.scratch.bytes)), bytes: Math.max(bytes, 2 * this.scratch.bytes) };
    const heap = new Int32Array(this.memory.buffer);
    let at = this.scratch.offset;
    return arrays.map((a) => {
      heap.set(new Int32Array(a.buffer, a.byteOffset, a.length), at / 4);
      const address = at;
      at += Math.ceil((4 * a.length) / 64) * 64;
      return address;
    });
  }

  /** Read `length` floats at `address` into `out`. */
  readFloats(address: number, out: Float32Array): void {
    out.set(new Float32Array(this.memory.buffer, address, out.length));
  }

  /** Run a kernel over [0, count) (rows for decode_rows, latents for the others) with its other arguments `args`. */
  run(kernel: (typeof KERNELS)[number], args: number[], count: number): void {
    new Int32Array(this.memory.buffer, this.params, args.length).set(args);
    this.entries[kernel](this.params, 0, count);
  }
}
