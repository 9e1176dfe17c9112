/**
 * e^y for four float32 lanes at once, shared by the kernels that need it (the GEMM's GELU epilogue, the LM head's
 * softmax): y = n·ln2 + g with n = nearest(y·log2 e) and g reduced in two steps (Cody–Waite: ln 2 = hi + lo, hi with
 * few enough bits that n·hi is exact), so |g| ≤ 0.35 with full relative accuracy; e^g by its Taylor polynomial to
 * degree 7 (truncation < 1e-8); 2^n from its exponent bits. The caller clamps y so that n stays in [−126, 127].
 * Only IEEE single-precision operations, in a fixed order: the same bits on every engine, lane and thread.
 */
import type { Code, FunctionBuilder } from "./emitter.ts";
import { ValType } from "./emitter.ts";

/** 10 significant bits: n·LN2_HI is exact for |n| ≤ 2^14. */
export const LN2_HI = 0.693359375;
export const LN2_LO = Math.LN2 - LN2_HI;
/** 1/2!, …, 1/7!: e^g ≈ 1 + g(1 + g(1/2 + g(1/6 + …))). */
export const EXP_TAYLOR = [1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040];

/** The v128 locals emitExp reads, built once per call of the function being emitted. */
export interface ExpConstants {
  log2e: number;
  ln2Hi: number;
  ln2Lo: number;
  one: number;
  taylor: number[];
  /** 127 in every i32 lane (the exponent bias). */
  bias: number;
}

/** A new v128 local holding `value` in every f32 lane (the code is emitted where the builder stands). */
export function splatF32(f: FunctionBuilder, value: number): number {
  const local = f.local(ValType.v128);
  f.code.f32Const(value).f32x4Splat().localSet(local);
  return local;
}

export function expConstants(f: FunctionBuilder): ExpConstants {
  const k = {
    log2e: splatF32(f, Math.LOG2E), ln2Hi: splatF32(f, LN2_HI), ln2Lo: splatF32(f, LN2_LO), one: splatF32(f, 1),
    taylor: EXP_TAYLOR.map((t) => splatF32(f, t)), bias: f.local(ValType.v128),
  };
  f.code.i32Const(127).i32x4Splat().localSet(k.bias);
  return k;
}

/** Pushes e^y for the v128 local y; n, g, p are scratch v128 locals. */
export function emitExp(code: Code, k: ExpConstants, y: number, n: number, g: number, p: number): void {
  // n = nearest(y·log2 e);  g = (y − n·hi) − n·lo
  code.localGet(y).localGet(k.log2e).f32x4Mul().f32x4Nearest().localSet(n);
  code.localGet(y).localGet(n).localGet(k.ln2Hi).f32x4Mul().f32x4Sub().localGet(n).localGet(k.ln2Lo).f32x4Mul().f32x4Sub().localSet(g);
  // p = e^g by Horner from the highest term: (((1/7!·g + 1/6!)·g + …)·g + 1)·g + 1
  code.localGet(k.taylor[k.taylor.length - 1]!);
  for (let i = k.taylor.length - 2; i >= 0; i--) code.localGet(g).f32x4Mul().localGet(k.taylor[i]!).f32x4Add();
  code.localGet(g).f32x4Mul().localGet(k.one).f32x4Add(); // … + 1 (the g¹ coefficient)
  code.localGet(g).f32x4Mul().localGet(k.one).f32x4Add().localSet(p); // … + 1 (the constant term)
  // e^y = p · 2^n, 2^n from the exponent bits (n + 127) << 23
  code.localGet(p).localGet(n).i32x4TruncSatF32x4S().localGet(k.bias).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
}
