/**
 * The softmax of the LM head's logits as a WebAssembly SIMD kernel (f32x4), emitted with the project's wasm
 * emitter. With GPT-2's 50,257-token vocabulary a training step takes rows × 50,257 exponentials; detExp in
 * scalar JavaScript costs 13–19 ns each (measured), more than the three unembedding matmuls together, while
 * this kernel does four per instruction.
 *
 *   softmaxRows(ptr, rows, n, strideBytes, scale, stats, scratch)
 *     for each row r (n floats at ptr + r·strideBytes):
 *       M = max_j x_j;  e_j = exp(x_j − M);  S = Σ_j e_j;  x_j ← e_j · (scale / S)
 *       stats[r] = (M, M, M, M, S, S, S, S)   (two splatted f32x4, 32 bytes per row)
 *
 * so with scale = 1/N the row becomes the softmax-cross-entropy gradient except at the target, where the caller
 * subtracts `scale`; the caller computes the loss log S + M − x_target in float64 from the stats.
 *
 * exp(y) for y = x − M ≤ 0 in float32 (../../tensor/wasm/vector_exp.ts, shared with the GELU epilogue; a few float32
 * ulps), y clamped to [−87, 0] (e^−87 ≈ 1.6e−38 is below a float32 ulp of S ≥ 1, so clamping changes no sum).
 *
 * Determinism: IEEE single-precision operations in a fixed order. The four lanes are reduced by two fixed
 * shuffles (lanes 0+2, 1+3, then the two halves), so every row gets the same bits on every engine. A row's
 * last n % 4 values go through the same vector code via a 16-byte scratch padded with −∞.
 */
import { encodeModule, FunctionBuilder, ValType, type Code } from "../../tensor/wasm/emitter.ts";
import { forUpTo } from "../../tensor/wasm/structured.ts";
import { requireWebAssembly, type WasmMemory } from "../../tensor/wasm/wasm_api.ts";
import { emitExp, expConstants, splatF32 } from "../../tensor/wasm/vector_exp.ts";
import { KernelArgumentError } from "../../tensor/wasm/kernel_guard.ts";

const Y_MIN = -87;
const SWAP_HALVES = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const SWAP_PAIRS = [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11];

function emitSoftmaxRows(): ReturnType<FunctionBuilder["definition"]> {
  const { i32, f32, v128 } = ValType;
  const f = new FunctionBuilder("softmaxRows", [i32, i32, i32, i32, f32, i32, i32]);
  const [ptr, rows, n, stride, scale, stats, scratch] = [0, 1, 2, 3, 4, 5, 6];
  const [r, rowStart, vectorBytes, offset, tail, t] = [f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32)];
  const code = f.code;
  const k = { minusInf: splatF32(f, -Infinity), yMin: splatF32(f, Y_MIN), zero: splatF32(f, 0), ...expConstants(f) };
  const [x, m, s, g, nn, p, inv] = [f.local(v128), f.local(v128), f.local(v128), f.local(v128), f.local(v128), f.local(v128), f.local(v128)];

  const tailAddress = () => code.localGet(rowStart).localGet(vectorBytes).i32Add().localGet(t).i32Const(2).i32Shl().i32Add();
  const scratchAddress = () => code.localGet(scratch).localGet(t).i32Const(2).i32Shl().i32Add();
  /** scratch ← (−∞, −∞, −∞, −∞), then the row's tail values over its first lanes. */
  const tailIn = () => {
    code.localGet(scratch).localGet(k.minusInf).v128Store();
    forUpTo(code, t, tail, 1, () => { scratchAddress(); tailAddress(); code.f32Load().f32Store(); });
  };
  const tailOut = () => forUpTo(code, t, tail, 1, () => { tailAddress(); scratchAddress(); code.f32Load().f32Store(); });
  /** Horizontal reduction of local v with op, leaving the result in every lane of v. */
  const reduce = (v: number, op: (c: Code) => void) => {
    code.localGet(v).localGet(v).localGet(v).i8x16Shuffle(SWAP_HALVES);
    op(code);
    code.localSet(v);
    code.localGet(v).localGet(v).localGet(v).i8x16Shuffle(SWAP_PAIRS);
    op(code);
    code.localSet(v);
  };
  /** x ← exp(x − m), and s += x. */
  const expAccumulate = () => {
    code.localGet(x).localGet(m).f32x4Sub().localGet(k.yMin).f32x4Max().localGet(k.zero).f32x4Min().localSet(x);
    emitExp(code, k, x, nn, g, p);
    code.localSet(x);
    code.localGet(s).localGet(x).f32x4Add().localSet(s);
  };
  const at = () => code.localGet(rowStart).localGet(offset).i32Add();

  code.localGet(n).i32Const(-4).i32And().i32Const(2).i32Shl().localSet(vectorBytes);
  code.localGet(n).i32Const(3).i32And().localSet(tail);
  forUpTo(code, r, rows, 1, () => {
    code.localGet(ptr).localGet(r).localGet(stride).i32Mul().i32Add().localSet(rowStart);
    // Pass 1: the maximum.
    code.localGet(k.minusInf).localSet(m);
    forUpTo(code, offset, vectorBytes, 16, () => { code.localGet(m); at(); code.v128Load().f32x4Max().localSet(m); });
    tailIn();
    code.localGet(m).localGet(scratch).v128Load().f32x4Max().localSet(m);
    reduce(m, (c) => c.f32x4Max());
    // Pass 2: exponentials in place, and their sum.
    code.localGet(k.zero).localSet(s);
    forUpTo(code, offset, vectorBytes, 16, () => { at(); code.v128Load().localSet(x); expAccumulate(); at(); code.localGet(x).v128Store(); });
    tailIn();
    code.localGet(scratch).v128Load().localSet(x);
    expAccumulate();
    code.localGet(scratch).localGet(x).v128Store();
    tailOut();
    reduce(s, (c) => c.f32x4Add());
    // Pass 3: scale / S.
    code.localGet(scale).f32x4Splat().localGet(s).f32x4Div().localSet(inv);
    forUpTo(code, offset, vectorBytes, 16, () => { at(); at(); code.v128Load().localGet(inv).f32x4Mul().v128Store(); });
    tailIn();
    code.localGet(scratch).localGet(scratch).v128Load().localGet(inv).f32x4Mul().v128Store();
    tailOut();
    code.localGet(stats).localGet(r).i32Const(5).i32Shl().i32Add().localGet(m).v128Store();
    code.localGet(stats).localGet(r).i32Const(5).i32Shl().i32Add().localGet(s).v128Store(16);
  });
  return f.definition();
}

type SoftmaxFunction = (ptr: number, rows: number, n: number, strideBytes: number, scale: number, stats: number, scratch: number) => void;

/**
 * A softmax workspace for up to `maxRows` rows of `n` values: `rows(count)` is a Float32Array view over the
 * kernel's memory (the caller's matmul writes the logits straight into it, no copy), `run` transforms them.
 */
export class SoftmaxWorkspace {
  private readonly memory: WasmMemory;
  private readonly fn: SoftmaxFunction;
  private readonly statsOffset: number;
  private readonly scratchOffset: number;
  readonly logits: Float32Array;
  readonly stats: Float32Array;

  constructor(readonly maxRows: number, readonly n: number) {
    const wasm = requireWebAssembly();
    const logitBytes = Math.ceil((4 * maxRows * n) / 64) * 64;
    this.statsOffset = logitBytes;
    this.scratchOffset = logitBytes + 32 * maxRows;
    const bytes = this.scratchOffset + 64;
    if (bytes > 2 ** 32 - 65536) throw new RangeError(`softmax workspace of ${maxRows} rows × ${n} needs ${bytes} bytes, over the 4 GiB WebAssembly limit: use fewer rows per chunk`);
    const pages = Math.ceil(bytes / 65536);
    this.memory = new wasm.Memory({ initial: pages, maximum: pages });
    const module = new wasm.Module(encodeModule([emitSoftmaxRows()], { initialPages: pages, maximumPages: pages, shared: false }));
    this.fn = new wasm.Instance(module, { env: { memory: this.memory } }).exports.softmaxRows as SoftmaxFunction;
    this.logits = new Float32Array(this.memory.buffer, 0, maxRows * n);
    this.stats = new Float32Array(this.memory.buffer, this.statsOffset, 8 * maxRows);
  }

  /** Rows [0, rows) of `logits` become e^(x−M)·scale/S; stats[8r] = M, stats[8r+4] = S. */
  run(rows: number, scale: number): void {
    if (!Number.isSafeInteger(rows) || rows < 0 || rows > this.maxRows) throw new KernelArgumentError(`softmaxRows: argument rows = ${rows}, the workspace holds 0..${this.maxRows} rows of ${this.n}`);
    if (!Number.isFinite(scale)) throw new KernelArgumentError(`softmaxRows: argument scale = ${scale} is not finite`);
    this.fn(0, rows, this.n, 4 * this.n, scale, this.statsOffset, this.scratchOffset);
  }
}
