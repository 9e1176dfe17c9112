/**
 * The GEMM micro-kernel: one MR×NR tile of C from one packed panel of A and one of B.
 *
 *   microKernel(aPanel, bPanel, cTile, ldcBytes, kc, overwrite):
 *       acc[MR×NR] = Σ_{p<kc} aPanel[p] ⊗ bPanel[p]        (outer products, p in increasing order)
 *       cTile      = overwrite ? acc : cTile + acc
 *
 * Panels are packed "k-major" (see ./pack.ts): for each p the A panel holds the MR values of column p of the
 * A block (one per row), the B panel the NR values of row p of the B block. One k step therefore loads NR/4
 * vectors of B, broadcasts each of the MR A values to a vector, and does MR·NR/4 vector multiply-adds into
 * the accumulator tile, which stays in v128 locals (CPU registers) for the whole k loop. That is the point of
 * the design (Goto & van de Geijn; BLIS): each loaded value is reused MR or NR/4 times from registers.
 *
 * Register budget, and why the tile is only 4×8: x86-64 has 16 xmm registers and V8 keeps one as scratch.
 * V8 11.3's optimizing compiler (Node 20) schedules every load of a loop iteration ahead of the arithmetic,
 * so the accumulators, the NR/4 B vectors, all MR A broadcasts and one product temporary are live at once:
 * 4×8 needs 8 + 2 + 4 + 1 = 15 registers — exactly the budget. 5×8, 6×8 and 4×12 spill to the stack and
 * measure 20–40% slower, and so does unrolling the k loop (it doubles the loads in flight). A fused
 * multiply-add would save the temporary and half the arithmetic instructions, but `f32x4.relaxed_madd` needs
 * --experimental-wasm-relaxed-simd in Node 20 and rounds differently on machines without FMA, so we multiply
 * and add separately.
 *
 * Speed limit: one k step is ~30 machine instructions (6 loads, 8 multiplies, 8 adds, pointer and loop
 * bookkeeping, V8's per-iteration stack check) for 64 flops, and a Zen 1 core sustains about 5 instructions per
 * cycle, so the kernel tops out near 10 flops/cycle — about 28 GFLOPS at 2.9 GHz, against a pure-arithmetic
 * peak of 16 flops/cycle. (On the newer EPYC hosts of 2026-11-25 one thread measured 40–49 GFLOPS, two 77–99.)
 *
 * Determinism: every element is `acc = acc + a·b` (a rounded product, then a rounded sum) in increasing p,
 * starting from zero, and then added to C. That sequence is the same for every tile position and every thread,
 * so the result of an element never depends on how the work was divided.
 */
import { FunctionBuilder, ValType, type FunctionDefinition } from "./emitter.ts";
import { countDown } from "./structured.ts";

export interface MicroTile {
  /** Rows of the C tile (A values broadcast per k step). */
  mr: number;
  /** Columns of the C tile; a multiple of 4 (one f32x4 vector per 4 columns). */
  nr: number;
  /**
   * Use relaxed SIMD's f32x4.relaxed_madd (a·b + c, fused on CPUs with FMA, rounded twice on those without) for the
   * multiply-adds: fewer instructions and a free register, but the result depends on the CPU — only for measuring
   * (bench/relaxed_simd.ts); the default kernel multiplies and adds separately, the same bits everywhere.
   */
  relaxedMadd?: boolean;
}

export function emitMicroKernel({ mr, nr, relaxedMadd = false }: MicroTile, exportName: string | null): FunctionDefinition {
  if (nr % 4 !== 0 || nr <= 0 || mr <= 0) throw new RangeError(`micro tile ${mr}×${nr} is not supported`);
  const vectorsPerRow = nr / 4;
  const { i32, v128 } = ValType;
  const f = new FunctionBuilder(exportName, [i32, i32, i32, i32, i32, i32]);
  const [aPanel, bPanel, cTile, ldcBytes, kc, overwrite] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [number, number, number, number, number, number];
  const acc: number[][] = Array.from({ length: mr }, () => Array.from({ length: vectorsPerRow }, () => f.local(v128)));
  const bVec: number[] = Array.from({ length: vectorsPerRow }, () => f.local(v128));
  const aBroadcast = f.local(v128);
  const cRow = f.local(i32);
  const code = f.code;

  for (const row of acc) for (const a of row) code.v128ConstZero().localSet(a);

  // WebAssembly has no prefetch instruction. Reading one word at each end of every row of the C tile now makes
  // its cache lines arrive while the k loop runs, instead of stalling the stores after it (measured: +5–10%).
  code.localGet(cTile).localSet(cRow);
  for (let r = 0; r < mr; r++) {
    code.localGet(cRow).i32Load(0).drop();
    code.localGet(cRow).i32Load(4 * nr - 4).drop();
    if (r < mr - 1) code.localGet(cRow).localGet(ldcBytes).i32Add().localSet(cRow);
  }

  // The k loop, one step per iteration (unrolling measured slower: see the register budget above).
  countDown(code, kc, () => {
    for (let v = 0; v < vectorsPerRow; v++) code.localGet(bPanel).v128Load(16 * v).localSet(bVec[v]!);
    for (let r = 0; r < mr; r++) {
      code.localGet(aPanel).v128Load32Splat(4 * r).localSet(aBroadcast);
      for (let v = 0; v < vectorsPerRow; v++) {
        // acc[r][v] = acc[r][v] + broadcast(a[r]) · b[v]
        if (relaxedMadd) code.localGet(aBroadcast).localGet(bVec[v]!).localGet(acc[r]![v]!).f32x4RelaxedMadd().localSet(acc[r]![v]!);
        else code.localGet(acc[r]![v]!).localGet(aBroadcast).localGet(bVec[v]!).f32x4Mul().f32x4Add().localSet(acc[r]![v]!);
      }
    }
    code.localGet(aPanel).i32Const(4 * mr).i32Add().localSet(aPanel);
    code.localGet(bPanel).i32Const(4 * nr).i32Add().localSet(bPanel);
  });

  // Write the tile row by row: C = acc on the first k block of a product, C = C + acc afterwards.
  const storeTile = (addToC: boolean): void => {
    code.localGet(cTile).localSet(cRow);
    for (let r = 0; r < mr; r++) {
      for (let v = 0; v < vectorsPerRow; v++) {
        code.localGet(cRow);
        if (addToC) code.localGet(cRow).v128Load(16 * v).localGet(acc[r]![v]!).f32x4Add();
        else code.localGet(acc[r]![v]!);
        code.v128Store(16 * v);
      }
      if (r < mr - 1) code.localGet(cRow).localGet(ldcBytes).i32Add().localSet(cRow);
    }
  };
  code.localGet(overwrite).if();
  storeTile(false);
  code.else();
  storeTile(true);
  code.end();
  return f.definition();
}
