/**
 * Packing: copy a block of op(A) or op(B) into the panel layout the micro-kernel reads (./micro_kernel.ts).
 *
 * A block of `lanes` rows of op(A) (or columns of op(B)) by `kc` entries along k is cut into panels of R lanes.
 * Inside a panel the values are stored k-major — for each p, the R lane values side by side — so the kernel's
 * k loop walks memory strictly forward. A last panel with fewer than R lanes is zero-filled: the kernel always
 * computes whole tiles, and the zero lanes only produce results that the driver discards.
 *
 *   packPanels(src, laneStrideBytes, kStrideBytes, lanes, kc, dst)
 *
 * `src` addresses element (lane 0, p 0); element (lane l, p) is at src + l·laneStride + p·kStride. That one
 * description covers all four storage cases: A stored [m,k] has laneStride = lda·4 and kStride = 4, A stored
 * transposed ([k,m]) has laneStride = 4 and kStride = lda·4, and likewise for B with the roles swapped.
 *
 * Three loops, fastest first:
 *  - lanes contiguous (laneStride = 4) and a full panel: each k step is one contiguous run of R floats, copied
 *    with v128 loads and stores;
 *  - k contiguous (kStride = 4) and a full panel: 4 lanes × 4 k values are loaded as 4 vectors, transposed in
 *    registers with shuffles, and stored as 4 vectors (one per k) — the case of A stored [m,k] and B stored [n,k];
 *  - otherwise (edges, odd strides): one float at a time.
 * Packing only moves bits (floats are copied as integers, so even NaN payloads survive), and the choice of
 * loop never changes a result.
 */
import { FunctionBuilder, ValType, type Code, type FunctionDefinition } from "./emitter.ts";
import { forUpTo, setMinU } from "./structured.ts";

/**
 * Byte lanes for i8x16.shuffle that pick 32-bit lanes: `lanes32([0, 4, 1, 5])` takes lane 0 of the first
 * vector, lane 0 of the second (index 4 = first lane of the second operand), lane 1 of the first, lane 1 of
 * the second.
 */
export function lanes32(picks: readonly number[]): number[] {
  return picks.flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]);
}

export function emitPackPanels(panelWidth: number, exportName: string | null): FunctionDefinition {
  const R = panelWidth;
  const { i32, v128 } = ValType;
  const f = new FunctionBuilder(exportName, [i32, i32, i32, i32, i32, i32]);
  const [src, laneStride, kStride, lanes, kc, dst] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [number, number, number, number, number, number];
  const panelStart = f.local(i32); // first lane of the current panel
  const validLanes = f.local(i32); // lanes of this panel inside the block (≤ R)
  const panelSrc = f.local(i32);
  const p = f.local(i32);
  const from = f.local(i32);
  const to = f.local(i32);
  const kc4 = f.local(i32); // kc rounded down to a multiple of 4, for the transposing loop
  const rows = [f.local(v128), f.local(v128), f.local(v128), f.local(v128)];
  const pairs = [f.local(v128), f.local(v128), f.local(v128), f.local(v128)];
  const code = f.code;

  code.localGet(kc).i32Const(-4).i32And().localSet(kc4);
  forUpTo(code, panelStart, lanes, R, () => {
    setMinU(code, validLanes, () => code.i32Const(R), () => code.localGet(lanes).localGet(panelStart).i32Sub());
    code.localGet(src).localGet(panelStart).localGet(laneStride).i32Mul().i32Add().localSet(panelSrc);
    const fullPanel = (): Code => code.localGet(validLanes).i32Const(R).i32Eq();

    // Case 1: the R lanes of one k step are contiguous in memory.
    fullPanel().localGet(laneStride).i32Const(4).i32Eq().i32And().if();
    emitContiguousCopy(code, R, { panelSrc, kStride, kc, dst, p, from, to });
    code.else();
    if (R % 4 === 0) {
      // Case 2: each lane is contiguous along k: transpose 4×4 blocks.
      fullPanel().localGet(kStride).i32Const(4).i32Eq().i32And().if();
      emitTransposingCopy(code, R, { panelSrc, laneStride, kc, kc4, dst, p, from, to, rows, pairs });
      code.else();
      emitScalarCopy(code, R, { panelSrc, laneStride, kStride, kc, dst, validLanes, p, from, to });
      code.end();
    } else {
      emitScalarCopy(code, R, { panelSrc, laneStride, kStride, kc, dst, validLanes, p, from, to });
    }
    code.end();
    code.localGet(dst).localGet(kc).i32Const(4 * R).i32Mul().i32Add().localSet(dst); // next panel: R·kc floats on
  });
  return f.definition();
}

interface CopyLocals {
  panelSrc: number;
  kc: number;
  dst: number;
  p: number;
  from: number;
  to: number;
}

/** dst[p][0..R) = src[p·kStride + 0..R) for every p: whole vectors, then a 2-float and a 1-float tail. */
function emitContiguousCopy(code: Code, R: number, l: CopyLocals & { kStride: number }): void {
  code.localGet(l.panelSrc).localSet(l.from).localGet(l.dst).localSet(l.to);
  forUpTo(code, l.p, l.kc, 1, () => {
    let offset = 0;
    for (; offset + 4 <= R; offset += 4) code.localGet(l.to).localGet(l.from).v128Load(4 * offset).v128Store(4 * offset);
    if (offset + 2 <= R) {
      code.localGet(l.to).localGet(l.from).i64Load(4 * offset).i64Store(4 * offset);
      offset += 2;
    }
    if (offset < R) code.localGet(l.to).localGet(l.from).i32Load(4 * offset).i32Store(4 * offset);
    code.localGet(l.from).localGet(l.kStride).i32Add().localSet(l.from);
    code.localGet(l.to).i32Const(4 * R).i32Add().localSet(l.to);
  });
}

/**
 * For lanes contiguous along k. Four lanes × four k values arrive as four row vectors
 *   r0 = [a0 a1 a2 a3], r1 = [b0 b1 b2 b3], r2 = [c0 …], r3 = [d0 …]
 * and leave as four k vectors [a0 b0 c0 d0], [a1 b1 c1 d1], … via the classic two-stage interleave.
 * The k tail (kc mod 4) is copied one float at a time.
 */
function emitTransposingCopy(code: Code, R: number, l: CopyLocals & { laneStride: number; kc4: number; rows: number[]; pairs: number[] }): void {
  const [r0, r1, r2, r3] = l.rows as [number, number, number, number];
  const [t0, t1, t2, t3] = l.pairs as [number, number, number, number];
  for (let group = 0; group < R; group += 4) {
    // from = first of the four lanes; to = their slot in k step 0
    code.localGet(l.panelSrc).localGet(l.laneStride).i32Const(group).i32Mul().i32Add().localSet(l.from);
    code.localGet(l.dst).i32Const(4 * group).i32Add().localSet(l.to);
    forUpTo(code, l.p, l.kc4, 4, () => {
      const loadRow = (lane: number, into: number): void => {
        code.localGet(l.from);
        if (lane > 0) code.localGet(l.laneStride).i32Const(lane).i32Mul().i32Add();
        code.v128Load().localSet(into);
      };
      loadRow(0, r0);
      loadRow(1, r1);
      loadRow(2, r2);
      loadRow(3, r3);
      code.localGet(r0).localGet(r1).i8x16Shuffle(lanes32([0, 4, 1, 5])).localSet(t0); // a0 b0 a1 b1
      code.localGet(r0).localGet(r1).i8x16Shuffle(lanes32([2, 6, 3, 7])).localSet(t1); // a2 b2 a3 b3
      code.localGet(r2).localGet(r3).i8x16Shuffle(lanes32([0, 4, 1, 5])).localSet(t2); // c0 d0 c1 d1
      code.localGet(r2).localGet(r3).i8x16Shuffle(lanes32([2, 6, 3, 7])).localSet(t3); // c2 d2 c3 d3
      const store = (kStep: number, lo: number, hi: number, picks: number[]): void => {
        code.localGet(l.to).localGet(lo).localGet(hi).i8x16Shuffle(lanes32(picks)).v128Store(4 * R * kStep);
      };
      store(0, t0, t2, [0, 1, 4, 5]); // a0 b0 c0 d0
      store(1, t0, t2, [2, 3, 6, 7]); // a1 b1 c1 d1
      store(2, t1, t3, [0, 1, 4, 5]); // a2 b2 c2 d2
      store(3, t1, t3, [2, 3, 6, 7]); // a3 b3 c3 d3
      code.localGet(l.from).i32Const(16).i32Add().localSet(l.from);
      code.localGet(l.to).i32Const(16 * R).i32Add().localSet(l.to);
    });
    // k tail: p runs on from kc4 (forUpTo left it there only when the loop ran, so recompute).
    code.localGet(l.kc4).localSet(l.p);
    code.localGet(l.p).localGet(l.kc).i32LtU().if();
    code.loop();
    for (let lane = 0; lane < 4; lane++) {
      code.localGet(l.to);
      code.localGet(l.from);
      if (lane > 0) code.localGet(l.laneStride).i32Const(lane).i32Mul().i32Add();
      code.i32Load().i32Store(4 * lane);
    }
    code.localGet(l.from).i32Const(4).i32Add().localSet(l.from);
    code.localGet(l.to).i32Const(4 * R).i32Add().localSet(l.to);
    code.localGet(l.p).i32Const(1).i32Add().localTee(l.p).localGet(l.kc).i32LtU().brIf(0);
    code.end();
    code.end();
  }
}

/** The general case, lane by lane; lanes past the block's edge are filled with zeros. */
function emitScalarCopy(code: Code, R: number, l: CopyLocals & { laneStride: number; kStride: number; validLanes: number }): void {
  for (let lane = 0; lane < R; lane++) {
    code.localGet(l.dst).i32Const(4 * lane).i32Add().localSet(l.to);
    code.i32Const(lane).localGet(l.validLanes).i32LtU().if();
    code.localGet(l.panelSrc).localGet(l.laneStride).i32Const(lane).i32Mul().i32Add().localSet(l.from);
    forUpTo(code, l.p, l.kc, 1, () => {
      code.localGet(l.to).localGet(l.from).i32Load().i32Store();
      code.localGet(l.from).localGet(l.kStride).i32Add().localSet(l.from);
      code.localGet(l.to).i32Const(4 * R).i32Add().localSet(l.to);
    });
    code.else();
    forUpTo(code, l.p, l.kc, 1, () => {
      code.localGet(l.to).i32Const(0).i32Store(); // the bits of +0.0f
      code.localGet(l.to).i32Const(4 * R).i32Add().localSet(l.to);
    });
    code.end();
  }
}
