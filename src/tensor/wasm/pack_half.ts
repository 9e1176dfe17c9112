/**
 * Packing a 16-bit operand: the same panels as ./pack.ts (R lanes side by side for each k, zero-filled past the
 * block's edge), read from F16 or BF16 codes and widened to float32 on the way — so a model's 16-bit weights are
 * converted panel by panel as the GEMM needs them, and never exist as float32 in memory.
 *
 *   packHalf(src, laneStrideBytes, kStrideBytes, lanes, kc, dst)     (strides in bytes of the 16-bit source)
 *
 * Conversion, four codes at a time (each code zero-extended into a 32-bit lane by v128.load16x4_u):
 *   BF16: the code is the top half of the float32: bits = code << 16.
 *   F16:  em = (code & 0x7fff) << 13 puts exponent and mantissa where float32 keeps them, with the exponent still
 *         biased by 15: multiplying that pattern, read as a float32, by 2^112 re-biases it to 127 — exactly, for
 *         normal and subnormal codes alike (a subnormal f16 becomes a subnormal-pattern float32 whose product is
 *         normal). Infinity and NaN (exponent 31) take em + (224 << 23) instead, which sets the exponent to 255 and
 *         keeps the NaN payload. Then the sign, (code & 0x8000) << 16, is or-ed in.
 * Both give exactly the float32 that ../half.ts's decoders give for every one of the 65536 codes (tested), so a
 * product with a 16-bit B is bit for bit the product with B decoded up front.
 *
 * Loops, as in ./pack.ts: lanes contiguous (an [k, n] weight read for B, GPT-2's Conv1D) and a full panel — each k step
 * is R/4 vector loads; k contiguous (an [n, k] weight, nn.Linear) and a full panel — 4 lanes × 4 k values widened and
 * transposed in registers; otherwise (edges) one value at a time through the same vector conversion.
 */
import { FunctionBuilder, ValType, type Code, type FunctionDefinition } from "./emitter.ts";
import { lanes32 } from "./pack.ts";
import { forUpTo, setMinU } from "./structured.ts";

export type HalfEncoding = "f16" | "bf16";

/** Locals holding the F16 conversion's constants (unused for BF16). */
interface ConvertLocals {
  format: HalfEncoding;
  signMask: number;
  magnitudeMask: number;
  rebias: number;
  specialBias: number;
  specialThreshold: number;
  em: number;
}

/** Replace the vector of zero-extended codes on top of the stack by their float32 values. */
function emitConvert(code: Code, l: ConvertLocals): void {
  if (l.format === "bf16") {
    code.i32Const(16).i32x4Shl();
    return;
  }
  code.localTee(l.em);
  code.localGet(l.signMask).v128And().i32Const(16).i32x4Shl(); // sign, left on the stack for the final or
  code.localGet(l.em).localGet(l.magnitudeMask).v128And().i32Const(13).i32x4Shl().localSet(l.em);
  code.localGet(l.em).localGet(l.specialBias).i32x4Add(); // Inf/NaN: exponent 31 → 255
  code.localGet(l.em).localGet(l.rebias).f32x4Mul(); // everything else: × 2^112
  code.localGet(l.em).localGet(l.specialThreshold).i32x4GtS(); // exponent field 31?
  code.v128Bitselect();
  code.v128Or();
}

function splatI32(f: FunctionBuilder, value: number): number {
  const local = f.local(ValType.v128);
  f.code.i32Const(value).i32x4Splat().localSet(local);
  return local;
}

export function emitPackPanelsHalf(panelWidth: number, format: HalfEncoding, exportName: string | null): FunctionDefinition {
  const R = panelWidth;
  if (R % 4 !== 0) throw new RangeError("16-bit packing needs a panel width that is a multiple of 4");
  const { i32, v128 } = ValType;
  const f = new FunctionBuilder(exportName, [i32, i32, i32, i32, i32, i32]);
  const [src, laneStride, kStride, lanes, kc, dst] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [number, number, number, number, number, number];
  const panelStart = f.local(i32);
  const validLanes = f.local(i32);
  const panelSrc = f.local(i32);
  const p = f.local(i32);
  const from = f.local(i32);
  const to = f.local(i32);
  const kc4 = f.local(i32);
  const rows = [f.local(v128), f.local(v128), f.local(v128), f.local(v128)];
  const pairs = [f.local(v128), f.local(v128), f.local(v128), f.local(v128)];
  const code = f.code;
  const magic = f.local(v128);
  code.i32Const(0x77800000).i32x4Splat().localSet(magic); // the float32 2^112
  const k: ConvertLocals = {
    format,
    signMask: splatI32(f, 0x8000),
    magnitudeMask: splatI32(f, 0x7fff),
    rebias: magic,
    specialBias: splatI32(f, 224 << 23),
    specialThreshold: splatI32(f, 0x0f7fffff),
    em: f.local(v128),
  };
  /** Push the float32 of the one code at the address pushed by `address`. */
  const convertOne = (address: () => void): void => {
    address();
    code.i32Load16U().i32x4Splat();
    emitConvert(code, k);
    code.f32x4ExtractLane(0);
  };

  code.localGet(kc).i32Const(-4).i32And().localSet(kc4);
  forUpTo(code, panelStart, lanes, R, () => {
    setMinU(code, validLanes, () => code.i32Const(R), () => code.localGet(lanes).localGet(panelStart).i32Sub());
    code.localGet(src).localGet(panelStart).localGet(laneStride).i32Mul().i32Add().localSet(panelSrc);
    const fullPanel = (): Code => code.localGet(validLanes).i32Const(R).i32Eq();

    // Case 1: the R lanes of one k step are contiguous.
    fullPanel().localGet(laneStride).i32Const(2).i32Eq().i32And().if();
    code.localGet(panelSrc).localSet(from).localGet(dst).localSet(to);
    forUpTo(code, p, kc, 1, () => {
      for (let group = 0; group < R; group += 4) {
        code.localGet(to).localGet(from).v128Load16x4U(2 * group);
        emitConvert(code, k);
        code.v128Store(4 * group);
      }
      code.localGet(from).localGet(kStride).i32Add().localSet(from);
      code.localGet(to).i32Const(4 * R).i32Add().localSet(to);
    });
    code.else();
    // Case 2: each lane contiguous along k: widen 4 lanes × 4 k values and transpose them.
    fullPanel().localGet(kStride).i32Const(2).i32Eq().i32And().if();
    emitTransposingCopy(code, R, { panelSrc, laneStride, kc, kc4, dst, p, from, to, rows, pairs }, k, convertOne);
    code.else();
    // Case 3: one value at a time; lanes past the block's edge are zeros.
    for (let lane = 0; lane < R; lane++) {
      code.localGet(dst).i32Const(4 * lane).i32Add().localSet(to);
      code.i32Const(lane).localGet(validLanes).i32LtU().if();
      code.localGet(panelSrc).localGet(laneStride).i32Const(lane).i32Mul().i32Add().localSet(from);
      forUpTo(code, p, kc, 1, () => {
        code.localGet(to);
        convertOne(() => code.localGet(from));
        code.f32Store();
        code.localGet(from).localGet(kStride).i32Add().localSet(from);
        code.localGet(to).i32Const(4 * R).i32Add().localSet(to);
      });
      code.else();
      forUpTo(code, p, kc, 1, () => {
        code.localGet(to).i32Const(0).i32Store();
        code.localGet(to).i32Const(4 * R).i32Add().localSet(to);
      });
      code.end();
    }
    code.end();
    code.end();
    code.localGet(dst).localGet(kc).i32Const(4 * R).i32Mul().i32Add().localSet(dst);
  });
  return f.definition();
}

interface TransposeLocals {
  panelSrc: number; laneStride: number; kc: number; kc4: number; dst: number; p: number; from: number; to: number;
  rows: number[]; pairs: number[];
}

function emitTransposingCopy(code: Code, R: number, l: TransposeLocals, k: ConvertLocals, convertOne: (address: () => void) => void): void {
  const [r0, r1, r2, r3] = l.rows as [number, number, number, number];
  const [t0, t1, t2, t3] = l.pairs as [number, number, number, number];
  for (let group = 0; group < R; group += 4) {
    code.localGet(l.panelSrc).localGet(l.laneStride).i32Const(group).i32Mul().i32Add().localSet(l.from);
    code.localGet(l.dst).i32Const(4 * group).i32Add().localSet(l.to);
    forUpTo(code, l.p, l.kc4, 4, () => {
      [r0, r1, r2, r3].forEach((into, lane) => {
        code.localGet(l.from);
        if (lane > 0) code.localGet(l.laneStride).i32Const(lane).i32Mul().i32Add();
        code.v128Load16x4U();
        emitConvert(code, k);
        code.localSet(into);
      });
      code.localGet(r0).localGet(r1).i8x16Shuffle(lanes32([0, 4, 1, 5])).localSet(t0);
      code.localGet(r0).localGet(r1).i8x16Shuffle(lanes32([2, 6, 3, 7])).localSet(t1);
      code.localGet(r2).localGet(r3).i8x16Shuffle(lanes32([0, 4, 1, 5])).localSet(t2);
      code.localGet(r2).localGet(r3).i8x16Shuffle(lanes32([2, 6, 3, 7])).localSet(t3);
      const store = (kStep: number, lo: number, hi: number, picks: number[]): void => {
        code.localGet(l.to).localGet(lo).localGet(hi).i8x16Shuffle(lanes32(picks)).v128Store(4 * R * kStep);
      };
      store(0, t0, t2, [0, 1, 4, 5]);
      store(1, t0, t2, [2, 3, 6, 7]);
      store(2, t1, t3, [0, 1, 4, 5]);
      store(3, t1, t3, [2, 3, 6, 7]);
      code.localGet(l.from).i32Const(8).i32Add().localSet(l.from); // four 2-byte values on
      code.localGet(l.to).i32Const(16 * R).i32Add().localSet(l.to);
    });
    // k tail (kc mod 4), one value per lane.
    code.localGet(l.kc4).localSet(l.p);
    code.localGet(l.p).localGet(l.kc).i32LtU().if();
    code.loop();
    for (let lane = 0; lane < 4; lane++) {
      code.localGet(l.to);
      convertOne(() => {
        code.localGet(l.from);
        if (lane > 0) code.localGet(l.laneStride).i32Const(lane).i32Mul().i32Add();
      });
      code.f32Store(4 * lane);
    }
    code.localGet(l.from).i32Const(2).i32Add().localSet(l.from);
    code.localGet(l.to).i32Const(4 * R).i32Add().localSet(l.to);
    code.localGet(l.p).i32Const(1).i32Add().localTee(l.p).localGet(l.kc).i32LtU().brIf(0);
    code.end();
    code.end();
  }
}
