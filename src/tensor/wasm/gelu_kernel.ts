/**
 * GPT-2's GELU as an epilogue of the GEMM: applied to each slice of C by the thread that computed it, right after
 * its last k block, so the MLP's activation runs on every core in f32x4 SIMD instead of one core in scalar JS.
 *
 *   geluRows(c, ldcBytes, rows, cols, scratch):  C[r][j] = gelu(C[r][j]) for r < rows, j < cols
 *
 * GELU (tanh form) = 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³), computed as x / (1 + e^y) with
 * y = −2u = x·(A + B·x²) — the same function, without tanh and without cancellation for negative x.
 * e^y in float32 (./vector_exp.ts), with y clamped to [−87, 88] (e^y stays a normal float; beyond, GELU is x or −0
 * to float32 precision). Relative error of the result: a few float32 ulps (tested against the float64 formula).
 *
 * Determinism: only IEEE single-precision operations, lane by lane, in a fixed order — every element gets the same
 * bits whichever thread or lane computes it, as the GEMM guarantees for the product itself. A row's last cols % 4
 * elements go through the same vector code via a 16-byte scratch.
 */
import { FunctionBuilder, ValType, type Code, type FunctionDefinition } from "./emitter.ts";
import { forUpTo } from "./structured.ts";
import { emitExp, expConstants, splatF32, type ExpConstants } from "./vector_exp.ts";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** y = −2u = x·(A + B·x²). */
const A = -2 * SQRT_2_OVER_PI;
const B = -2 * SQRT_2_OVER_PI * 0.044715;
const Y_MAX = 88;
const Y_MIN = -87;

export function emitGeluRows(): FunctionDefinition {
  const { i32, v128 } = ValType;
  const f = new FunctionBuilder(null, [i32, i32, i32, i32, i32]);
  const [c, ldcBytes, rows, cols, scratch] = [0, 1, 2, 3, 4].map((i) => f.param(i)) as [number, number, number, number, number];
  const [r, rowStart, vectorBytes, offset, tail, t] = [f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32)];
  const code = f.code;

  // Constant vectors, built once per call.
  const k: GeluConstants = { a: splatF32(f, A), b: splatF32(f, B), yMax: splatF32(f, Y_MAX), yMin: splatF32(f, Y_MIN), ...expConstants(f) };
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

interface GeluConstants extends ExpConstants {
  a: number; b: number; yMax: number; yMin: number;
}

/** Pushes gelu(x) for the v128 local x (y, n, g, p are scratch v128 locals). */
function emitGeluOfX(code: Code, k: GeluConstants, x: number, y: number, n: number, g: number, p: number): void {
  // y = clamp(x·(A + B·x²), Y_MIN, Y_MAX)
  code.localGet(x).localGet(k.b).localGet(x).localGet(x).f32x4Mul().f32x4Mul().localGet(k.a).f32x4Add().f32x4Mul();
  code.localGet(k.yMax).f32x4Min().localGet(k.yMin).f32x4Max().localSet(y);
  emitExp(code, k, y, n, g, p); // e^y (n ∈ [−126, 127] thanks to the clamp)
  // gelu = x / (1 + e^y)
  code.localGet(k.one).f32x4Add().localSet(p);
  code.localGet(x).localGet(p).f32x4Div();
}
