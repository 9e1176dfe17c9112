/**
 * GPT-2's GELU as an epilogue of the GEMM: applied to each slice of C by the thread that computed it, right after
 * its last k block, so the MLP's activation runs on every core in f32x4 SIMD instead of one core in scalar JS.
 *
 *   geluRows(c, ldcBytes, rows, cols, scratch):  C[r][j] = gelu(C[r][j]) for r < rows, j < cols
 *
 * GELU (tanh form) = 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³), computed as x / (1 + e^y) with
 * y = −2u = x·(A + B·x²) — the same function, without tanh and without cancellation for negative x.
 * e^y in float32: y is clamped to [−87, 88] (e^y stays a normal float; beyond, GELU is x or −0 to float32
 * precision), y = n·ln2 + g with n = nearest(y·log2 e) and g reduced in two steps (Cody–Waite: ln 2 = hi + lo,
 * hi with few enough bits that n·hi is exact), so |g| ≤ 0.35 with full relative accuracy; e^g is its Taylor
 * polynomial to degree 7 (truncation < 1e-8), and 2^n is built from its exponent bits. Relative error of the
 * result: a few float32 ulps (tested against the float64 formula).
 *
 * Determinism: only IEEE single-precision operations, lane by lane, in a fixed order — every element gets the same
 * bits whichever thread or lane computes it, as the GEMM guarantees for the product itself. A row's last cols % 4
 * elements go through the same vector code via a 16-byte scratch.
 */
import { FunctionBuilder, ValType, type Code, type FunctionDefinition } from "./emitter.ts";
import { forUpTo } from "./structured.ts";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** y = −2u = x·(A + B·x²). */
const A = -2 * SQRT_2_OVER_PI;
const B = -2 * SQRT_2_OVER_PI * 0.044715;
const Y_MAX = 88;
const Y_MIN = -87;
const LN2_HI = 0.693359375; // 10 significant bits: n·LN2_HI is exact for |n| ≤ 2^14
const LN2_LO = Math.LN2 - LN2_HI;
/** 1/2!, …, 1/7!: e^g ≈ 1 + g(1 + g(1/2 + g(1/6 + …))). */
const TAYLOR = [1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040];

export function emitGeluRows(): FunctionDefinition {
  const { i32, v128 } = ValType;
  const f = new FunctionBuilder(null, [i32, i32, i32, i32, i32]);
  const [c, ldcBytes, rows, cols, scratch] = [0, 1, 2, 3, 4].map((i) => f.param(i)) as [number, number, number, number, number];
  const [r, rowStart, vectorBytes, offset, tail, t] = [f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32)];
  const code = f.code;

  // Constant vectors, built once per call.
  const splat = (value: number): number => {
    const local = f.local(v128);
    code.f32Const(value).f32x4Splat().localSet(local);
    return local;
  };
  const k = {
    a: splat(A), b: splat(B), yMax: splat(Y_MAX), yMin: splat(Y_MIN), log2e: splat(Math.LOG2E),
    ln2Hi: splat(LN2_HI), ln2Lo: splat(LN2_LO), one: splat(1), taylor: TAYLOR.map(splat),
    bias: f.local(v128),
  };
  code.i32Const(127).i32x4Splat().localSet(k.bias);
  const x = f.local(v128), y = f.local(v128), n = f.local(v128), g = f.local(v128), p = f.local(v128);

  /** Replace the 4 floats at the address on top of the stack (pushed by `address`) by their GELU. */
  const geluAt = (address: () => void): void => {
    address();
    address();
    code.v128Load().localSet(x);
    emitGeluOfX(code, k, x, y, n, g, p);
    code.v128Store();
  };

  code.localGet(cols).i32Const(-4).i32And().i32Const(2).i32Shl().localSet(vectorBytes); // 4·(cols − cols % 4)
  code.localGet(cols).i32Const(3).i32And().localSet(tail);
  forUpTo(code, r, rows, 1, () => {
    code.localGet(c).localGet(r).localGet(ldcBytes).i32Mul().i32Add().localSet(rowStart);
    forUpTo(code, offset, vectorBytes, 16, () => geluAt(() => code.localGet(rowStart).localGet(offset).i32Add()));
    // The last cols % 4 values: through the scratch vector, so they get exactly the same operations.
    code.localGet(tail).if();
    forUpTo(code, t, tail, 1, () => {
      code.localGet(scratch).localGet(t).i32Const(2).i32Shl().i32Add();
      code.localGet(rowStart).localGet(vectorBytes).i32Add().localGet(t).i32Const(2).i32Shl().i32Add().f32Load();
      code.f32Store();
    });
    geluAt(() => code.localGet(scratch));
    forUpTo(code, t, tail, 1, () => {
      code.localGet(rowStart).localGet(vectorBytes).i32Add().localGet(t).i32Const(2).i32Shl().i32Add();
      code.localGet(scratch).localGet(t).i32Const(2).i32Shl().i32Add().f32Load();
      code.f32Store();
    });
    code.end();
  });
  return f.definition();
}

interface GeluConstants {
  a: number; b: number; yMax: number; yMin: number; log2e: number; ln2Hi: number; ln2Lo: number; one: number;
  taylor: number[]; bias: number;
}

/** Pushes gelu(x) for the v128 local x (y, n, g, p are scratch v128 locals). */
function emitGeluOfX(code: Code, k: GeluConstants, x: number, y: number, n: number, g: number, p: number): void {
  // y = clamp(x·(A + B·x²), Y_MIN, Y_MAX)
  code.localGet(x).localGet(k.b).localGet(x).localGet(x).f32x4Mul().f32x4Mul().localGet(k.a).f32x4Add().f32x4Mul();
  code.localGet(k.yMax).f32x4Min().localGet(k.yMin).f32x4Max().localSet(y);
  // n = nearest(y·log2 e);  g = (y − n·hi) − n·lo
  code.localGet(y).localGet(k.log2e).f32x4Mul().f32x4Nearest().localSet(n);
  code.localGet(y).localGet(n).localGet(k.ln2Hi).f32x4Mul().f32x4Sub().localGet(n).localGet(k.ln2Lo).f32x4Mul().f32x4Sub().localSet(g);
  // p = e^g by Horner from the highest term: (((1/7!·g + 1/6!)·g + …)·g + 1)·g + 1
  code.localGet(k.taylor[k.taylor.length - 1]!);
  for (let i = k.taylor.length - 2; i >= 0; i--) code.localGet(g).f32x4Mul().localGet(k.taylor[i]!).f32x4Add();
  code.localGet(g).f32x4Mul().localGet(k.one).f32x4Add(); // … + 1 (the g¹ coefficient)
  code.localGet(g).f32x4Mul().localGet(k.one).f32x4Add().localSet(p); // … + 1 (the constant term)
  // e^y = p · 2^n, 2^n from the exponent bits (n + 127) << 23 — n ∈ [−126, 127] thanks to the clamp.
  code.localGet(p).localGet(n).i32x4TruncSatF32x4S().localGet(k.bias).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
  // gelu = x / (1 + e^y)
  code.localGet(k.one).f32x4Add().localSet(p);
  code.localGet(x).localGet(p).f32x4Div();
}
