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
 *
 * Guard: a kernel addresses memory by raw byte offsets, so a stale index or a view that is not in the arena would
 * read or write a neighbouring buffer silently, or trap with a bare "memory access out of bounds". Every call
 * therefore goes through a typed method (decodeRows, latentDotAxpy, latentAxpy) that checks, before the kernel
 * runs, that each pointer and length lies inside an allocated or staged region and that every index the kernel
 * will follow (row pointers, entry numbers, row numbers) is in range (../tensor/wasm/kernel_guard.ts); a failure
 * names the kernel, the argument and the sizes.
 */
import { encodeModule, FunctionBuilder, ValType, type Code } from "../tensor/wasm/emitter.ts";
import { requireWebAssembly, webAssembly, type WasmMemory } from "../tensor/wasm/wasm_api.ts";
import { wasmSimdAvailable } from "../tensor/wasm/index.ts";
import { checkIndexRange, checkOffsets, checkPointer, KernelArgumentError, MemoryRegions } from "../tensor/wasm/kernel_guard.ts";

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
type KernelName = (typeof KERNELS)[number];

/** decode_rows: out[r] = bias + Σ_e val_e·W[idx_e] for r < rows. The index arrays are staged by the call. */
export interface DecodeRowsCall {
  rows: number;
  d: number;
  /** rows + 1 row pointers into idx/val. */
  rowPtr: Int32Array;
  idx: Int32Array;
  val: Float32Array;
  /** [wRows, d], in the arena. */
  w: Float32Array;
  /** [d] in the arena, or null for no bias. */
  bias: Float32Array | null;
  /** [rows, d], in the arena. */
  out: Float32Array;
}

/** latent_dot_axpy over latents [0, n): grad_e = G[gRow_e]·W[j]; gradW[j] += val_e·G[gRow_e] (gradW null: no accumulation). */
export interface LatentDotAxpyCall {
  blocks: number;
  n: number;
  d: number;
  /** blocks·n + 1 pointers into byLatent. */
  colPtr: Int32Array;
  /** Entry numbers (into gRow, val, grad), grouped by latent. */
  byLatent: Int32Array;
  gRow: Int32Array;
  val: Float32Array;
  /** Receives the dot products (read back into this array after the call). */
  grad: Float32Array;
  /** [·, d] in the arena: every gRow value must be one of its rows. */
  g: Float32Array;
  /** [n, d] in the arena. */
  w: Float32Array;
  gradW: Float32Array | null;
}

/** latent_axpy over latents [0, n): acc[j] += coef_e·X[rowOf_e]. */
export interface LatentAxpyCall {
  blocks: number;
  n: number;
  d: number;
  colPtr: Int32Array;
  byLatent: Int32Array;
  rowOf: Int32Array;
  coef: Float32Array;
  /** [·, d] in the arena: every rowOf value must be one of its rows. */
  x: Float32Array;
  /** [n, d] in the arena. */
  acc: Float32Array;
}

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
  /**
   * Every SharedArrayBuffer object this memory has been seen through: views over any of them are ours. Not only one
   * per growth of this memory: V8 (Node 20) hands out a new buffer object for every shared memory of the isolate
   * whenever *any* shared memory grows — the matmul engine's, say — so the object a view was made from is recorded
   * with each view. (Recording only this memory's growths once sent a process's first SAE down the scalar loops
   * for the buffers allocated after the first matmul, and later SAEs down the WebAssembly ones: a run's bits
   * depended on its place in the process.)
   */
  private readonly buffers = new Set<ArrayBufferLike>();
  private scratch = { offset: 0, bytes: 0 };
  private readonly params: number;
  private readonly regions = new MemoryRegions();

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

  /** A new zeroed float buffer in the arena (a long-lived region the kernels may be given). */
  floats(length: number, label = "buffer"): Float32Array {
    const offset = this.reserve(4 * length); // first: it may grow the memory, which replaces memory.buffer
    this.regions.allocate(label, offset, 4 * length);
    const view = new Float32Array(this.memory.buffer, offset, length);
    this.buffers.add(view.buffer); // see `buffers`: the object may be new even though the memory did not grow
    return view;
  }

  /** Whether `a` is a view into this arena's memory (then its byteOffset is its address). */
  owns(a: Float32Array | Int32Array): boolean {
    return this.buffers.has(a.buffer);
  }

  /**
   * Per-call scratch: copies of `arrays` (typed arrays of 4-byte elements) placed one after another; returns their
   * addresses and records them as the call's staged regions. The region is reused by the next call.
   */
  private stage(arrays: [string, Float32Array | Int32Array][]): number[] {
    const bytes = arrays.reduce((s, [, a]) => s + Math.ceil((4 * a.length) / 64) * 64, 0);
    if (bytes > this.scratch.bytes) {
      const size = Math.max(bytes, 2 * this.scratch.bytes);
      this.scratch = { offset: this.reserve(size), bytes: size };
    }
    const heap = new Int32Array(this.memory.buffer);
    let at = this.scratch.offset;
    const staged: { label: string; start: number; bytes: number }[] = [];
    const addresses = arrays.map(([label, a]) => {
      heap.set(new Int32Array(a.buffer, a.byteOffset, a.length), at / 4);
      const address = at;
      staged.push({ label, start: address, bytes: 4 * a.length });
      at += Math.ceil((4 * a.length) / 64) * 64;
      return address;
    });
    this.regions.stage(staged);
    const memoryBytes = this.memory.buffer.byteLength;
    arrays.forEach(([label, a], i) => checkPointer("stage", label, addresses[i]!, a.length, this.regions, memoryBytes));
    return addresses;
  }

  /** decode_rows (see DecodeRowsCall), after checking every argument. */
  decodeRows(call: DecodeRowsCall): void {
    const K = "decode_rows";
    const { rows, d, rowPtr, idx, val, w, bias, out } = call;
    const wRows = rowsOf(w, d);
    checkEqual(K, "rowPtr", rowPtr.length, rows + 1, "rows + 1");
    checkEqual(K, "val", val.length, idx.length, "idx's length");
    checkOffsets(K, "rowPtr", rowPtr, idx.length, "idx");
    checkIndexRange(K, "idx", idx.subarray(0, rowPtr[rows]), wRows, `a row of W, which has ${wRows}`);
    const [pRowPtr, pIdx, pVal] = this.stage([["rowPtr", rowPtr], ["idx", idx], ["val", val]]);
    this.checkArena(K, [["W", w, wRows * d], ["bias", bias, d], ["out", out, rows * d]]);
    this.run(K, [pRowPtr!, pIdx!, pVal!, w.byteOffset, bias ? bias.byteOffset : 0, out.byteOffset, d], rows);
  }

  /** latent_dot_axpy (see LatentDotAxpyCall), after checking every argument; grad is read back. */
  latentDotAxpy(call: LatentDotAxpyCall): void {
    const K = "latent_dot_axpy";
    const { blocks, n, d, colPtr, byLatent, gRow, val, grad, g, w, gradW } = call;
    const entries = gRow.length;
    checkEqual(K, "colPtr", colPtr.length, blocks * n + 1, "blocks·n + 1");
    checkEqual(K, "val", val.length, entries, "gRow's length");
    checkEqual(K, "grad", grad.length, entries, "gRow's length");
    checkOffsets(K, "colPtr", colPtr, byLatent.length, "byLatent");
    checkIndexRange(K, "byLatent", byLatent.subarray(0, colPtr[blocks * n]), entries, `an entry of gRow/val/grad, which hold ${entries}`);
    const gRows = rowsOf(g, d);
    checkIndexRange(K, "gRow", gRow, gRows, `a row of G, which has ${gRows}`);
    const [pCol, pBy, pRow, pVal, pGrad] = this.stage([["colPtr", colPtr], ["byLatent", byLatent], ["gRow", gRow], ["val", val], ["grad", grad]]);
    this.checkArena(K, [["G", g, gRows * d], ["W", w, n * d], ["gradW", gradW, n * d]]);
    this.run(K, [blocks, n, pCol!, pBy!, pRow!, pVal!, pGrad!, g.byteOffset, w.byteOffset, gradW ? gradW.byteOffset : 0, d], n);
    grad.set(new Float32Array(this.memory.buffer, pGrad!, entries));
  }

  /** latent_axpy (see LatentAxpyCall), after checking every argument. */
  latentAxpy(call: LatentAxpyCall): void {
    const K = "latent_axpy";
    const { blocks, n, d, colPtr, byLatent, rowOf, coef, x, acc } = call;
    const entries = rowOf.length;
    checkEqual(K, "colPtr", colPtr.length, blocks * n + 1, "blocks·n + 1");
    checkEqual(K, "coef", coef.length, entries, "rowOf's length");
    checkOffsets(K, "colPtr", colPtr, byLatent.length, "byLatent");
    checkIndexRange(K, "byLatent", byLatent.subarray(0, colPtr[blocks * n]), entries, `an entry of rowOf/coef, which hold ${entries}`);
    const xRows = rowsOf(x, d);
    checkIndexRange(K, "rowOf", rowOf, xRows, `a row of X, which has ${xRows}`);
    const [pCol, pBy, pRow, pCoef] = this.stage([["colPtr", colPtr], ["byLatent", byLatent], ["rowOf", rowOf], ["coef", coef]]);
    this.checkArena(K, [["X", x, xRows * d], ["acc", acc, n * d]]);
    this.run(K, [blocks, n, pCol!, pBy!, pRow!, pCoef!, x.byteOffset, acc.byteOffset, d], n);
  }

  /** Arrays that must already live in the arena: each inside one allocation, with `elements` values from its start. */
  private checkArena(kernel: KernelName, args: [string, Float32Array | null, number][]): void {
    const bytes = this.memory.buffer.byteLength;
    for (const [name, array, elements] of args) {
      if (array === null) continue;
      if (!this.owns(array)) throw new KernelArgumentError(`${kernel}: argument ${name} is not a view into the kernels' memory (copy it in with inArena first)`);
      if (array.length < elements) throw new KernelArgumentError(`${kernel}: argument ${name} holds ${array.length} values, the call needs ${elements}`);
      checkPointer(kernel, name, array.byteOffset, elements, this.regions, bytes);
    }
  }

  /** Run a kernel over [0, count) with its argument block (every pointer checked by the caller). */
  private run(kernel: KernelName, args: number[], count: number): void {
    new Int32Array(this.memory.buffer, this.params, args.length).set(args);
    this.entries[kernel](this.params, 0, count);
  }
}

/** Rows of d values a view holds. */
function rowsOf(a: Float32Array, d: number): number {
  return d > 0 ? Math.floor(a.length / d) : 0;
}

function checkEqual(kernel: KernelName, argument: string, length: number, want: number, what: string): void {
  if (length !== want) throw new KernelArgumentError(`${kernel}: argument ${argument} has ${length} entries, it must have ${what} = ${want}`);
}
