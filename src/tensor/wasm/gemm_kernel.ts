/**
 * The GEMM WebAssembly module: packing (./pack.ts), the register-tiled micro-kernel (./micro_kernel.ts) and the
 * cache-blocked driver loops around them, all emitted as bytes by ./emitter.ts.
 *
 *   gemm(m, n, k, a, lda, transA, b, ldb, transB, c, ldc, accumulate, epilogue, bFormat, workspace)
 *       C[m×n] (+)= op(A)[m×k] · op(B)[k×n]      (addresses in bytes, leading dimensions in elements)
 *       then, if epilogue = 1, C[m×n] = gelu(C[m×n])
 *       B is float32 (bFormat 0) or 16-bit codes, F16 (1) or BF16 (2), converted as its panels are packed
 *       (./pack_half.ts): a 16-bit weight matrix is staged at half the bytes and never widened as a whole.
 *
 * The driver is the five-loop structure of GotoBLAS/BLIS:
 *
 *   for jc in n by NC                      B block KC×NC: stays in the shared L3
 *     for pc in k by KC
 *       pack op(B)[pc.., jc..] → Bpack      (NR-column panels)
 *       for ic in m by MC                  A block MC×KC: stays in the core's L2
 *         pack op(A)[ic.., pc..] → Apack    (MR-row panels)
 *         for jr in nc by NR               one B panel (KC×NR) stays in L1 while …
 *           for ir in mc by MR             … the A panels stream past it
 *             micro-kernel: C[ir.., jr..] (+)= Apanel · Bpanel
 *
 * Tiles that stick out of C (m or n not a multiple of MR or NR) are computed whole into a scratch tile and only
 * their inside is added to C, so the kernel never needs a masked form. Both paths do the same float operations
 * per element (C = acc on the first k block, C = C + acc after), so edge elements are not special either.
 *
 * Determinism: an element's value depends only on k, KC and its own row of A and column of B — not on m, n, the
 * block it falls in or the thread computing it — so any split of C into slices gives bit-identical results.
 */
import { encodeModule, FunctionBuilder, ValType, type FunctionDefinition, type MemoryImport } from "./emitter.ts";
import { emitMicroKernel } from "./micro_kernel.ts";
import { emitPackPanels } from "./pack.ts";
import { emitPackPanelsHalf } from "./pack_half.ts";
import { forUpTo, setMinU } from "./structured.ts";
import { emitGeluRows } from "./gelu_kernel.ts";

/** Register tile (MR×NR) and cache blocks (MC, KC, NC). MC must be a multiple of MR and NC of NR. */
export interface GemmBlocking {
  mr: number;
  nr: number;
  mc: number;
  kc: number;
  nc: number;
}

/**
 * MR×NR = 4×8 (eight f32x4 accumulators): the largest tile that V8 11.3 keeps in registers (see
 * ./micro_kernel.ts). Cache blocks, measured on the project's 2-core AMD EPYC (Zen 1) machines:
 *   KC = 384: a B panel is 12 KiB of the 32 KiB L1, and k = 768 (GPT-2's width) takes two k blocks, so C is
 *             read back only once (smaller KC passes over C more often; larger KC crowds L1);
 *   MC = 128: the A block (MC×KC) is 192 KiB of the 512 KiB L2;
 *   NC = 2048: the B block (KC×NC) is 3 MiB of the 8 MiB L3, which the two cores share.
 * Within about ±5% the GEMM speed is flat around these values; they are not a sharp optimum.
 */
export const GEMM_BLOCKING: GemmBlocking = { mr: 4, nr: 8, mc: 128, kc: 384, nc: 2048 };

/** Per-thread scratch: packed A block, packed B block, one edge tile. */
export function workspaceBytes({ mr, nr, mc, kc, nc }: GemmBlocking): number {
  return 4 * (mc * kc + kc * nc + mr * nr);
}

/** Function indices inside the module (a function calls another by index). */
const FN = { microKernel: 0, packA: 1, packB: 2, addTile: 3, gemm: 4, geluRows: 5, packBF16: 6, packBBF16: 7 } as const;

/** `epilogue`: 0 = none, 1 = GPT-2's GELU on the finished slice of C (./gelu_kernel.ts). */
export const GEMM_PARAMS = ["m", "n", "k", "a", "lda", "transA", "b", "ldb", "transB", "c", "ldc", "accumulate", "epilogue", "bFormat", "workspace"] as const;
export const EPILOGUE = { none: 0, gelu: 1 } as const;
/** `bFormat`: how B is stored. */
export const B_FORMAT = { f32: 0, f16: 1, bf16: 2 } as const;

/** `relaxedMadd`: the micro-kernel's multiply-adds as relaxed SIMD (CPU-dependent results; for measurement only). */
export function gemmModuleBytes(blocking: GemmBlocking, memory: MemoryImport, options: { relaxedMadd?: boolean } = {}): Uint8Array {
  const { mr, nr, mc, kc, nc } = blocking;
  if (mc % mr !== 0 || nc % nr !== 0) throw new RangeError("MC must be a multiple of MR and NC of NR");
  if (kc < 1) throw new RangeError("KC must be positive");
  const functions: FunctionDefinition[] = [];
  functions[FN.microKernel] = emitMicroKernel({ mr, nr, relaxedMadd: options.relaxedMadd ?? false }, "microKernel");
  functions[FN.packA] = emitPackPanels(mr, "packA");
  functions[FN.packB] = emitPackPanels(nr, "packB");
  functions[FN.addTile] = emitAddTile(nr);
  functions[FN.gemm] = emitGemmDriver(blocking);
  functions[FN.geluRows] = emitGeluRows();
  functions[FN.packBF16] = emitPackPanelsHalf(nr, "f16", "packBF16");
  functions[FN.packBBF16] = emitPackPanelsHalf(nr, "bf16", "packBBF16");
  return encodeModule(functions, memory);
}

/** addTile(tile, cTile, ldcBytes, rows, cols, overwrite): the inside rows×cols of an edge tile into C. */
function emitAddTile(nr: number): FunctionDefinition {
  const { i32 } = ValType;
  const f = new FunctionBuilder(null, [i32, i32, i32, i32, i32, i32]);
  const [tile, cTile, ldcBytes, rows, cols, overwrite] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [number, number, number, number, number, number];
  const r = f.local(i32);
  const s = f.local(i32);
  const from = f.local(i32);
  const to = f.local(i32);
  const code = f.code;
  forUpTo(code, r, rows, 1, () => {
    code.localGet(tile).localGet(r).i32Const(4 * nr).i32Mul().i32Add().localSet(from);
    code.localGet(cTile).localGet(r).localGet(ldcBytes).i32Mul().i32Add().localSet(to);
    forUpTo(code, s, cols, 1, () => {
      // C = overwrite ? T : C + T — the same float operation the full-tile store does per lane.
      code.localGet(overwrite).if().localGet(to).localGet(from).f32Load().f32Store();
      code.else().localGet(to).localGet(to).f32Load().localGet(from).f32Load().f32Add().f32Store();
      code.end();
      code.localGet(from).i32Const(4).i32Add().localSet(from);
      code.localGet(to).i32Const(4).i32Add().localSet(to);
    });
  });
  return f.definition();
}

function emitGemmDriver({ mr, nr, mc: MC, kc: KC, nc: NC }: GemmBlocking): FunctionDefinition {
  const { i32 } = ValType;
  const f = new FunctionBuilder("gemm", GEMM_PARAMS.map(() => i32));
  const [m, n, k, a, lda, transA, b, ldb, transB, c, ldc, accumulate, epilogue, bFormat, workspace] = GEMM_PARAMS.map((_, i) => f.param(i)) as number[] as [
    number, number, number, number, number, number, number, number, number, number, number, number, number, number, number,
  ];
  const local = (): number => f.local(i32);
  const [packedA, packedB, edgeTile] = [local(), local(), local()];
  const [aLaneStride, aKStride, bLaneStride, bKStride, ldcBytes] = [local(), local(), local(), local(), local()];
  const [jc, pc, ic, jr, ir] = [local(), local(), local(), local(), local()];
  const [ncBlock, kcBlock, mcBlock, nrTile, mrTile] = [local(), local(), local(), local(), local()];
  const [overwrite, aPanel, bPanel, cTile, bBlock] = [local(), local(), local(), local(), local()];
  const code = f.code;

  // Workspace layout: packed A block, packed B block, edge tile.
  code.localGet(workspace).localSet(packedA);
  code.localGet(packedA).i32Const(4 * MC * KC).i32Add().localSet(packedB);
  code.localGet(packedB).i32Const(4 * KC * NC).i32Add().localSet(edgeTile);
  code.localGet(ldc).i32Const(2).i32Shl().localSet(ldcBytes);

  // Byte strides of op(A) along its rows (the lanes of an A panel) and along k; of op(B) along its columns and k.
  // A stored [m,k]: rows lda·4 apart, k contiguous; stored [k,m] (transA): the other way round. B likewise.
  const chooseBy = (flag: number, target: number, ifSet: () => void, ifClear: () => void): void => {
    ifSet();
    ifClear();
    code.localGet(flag).select().localSet(target); // select keeps the first value when the flag is non-zero
  };
  const four = (): void => void code.i32Const(4);
  const ldaBytes = (): void => void code.localGet(lda).i32Const(2).i32Shl();
  // B's elements are 4 bytes (float32) or 2 (16-bit codes).
  const bElement = local();
  code.i32Const(2).i32Const(4).localGet(bFormat).select().localSet(bElement);
  const bElementBytes = (): void => void code.localGet(bElement);
  const ldbBytes = (): void => void code.localGet(ldb).localGet(bElement).i32Mul();
  chooseBy(transA, aLaneStride, four, ldaBytes);
  chooseBy(transA, aKStride, ldaBytes, four);
  chooseBy(transB, bLaneStride, ldbBytes, bElementBytes);
  chooseBy(transB, bKStride, bElementBytes, ldbBytes);

  forUpTo(code, jc, n, NC, () => {
    setMinU(code, ncBlock, () => code.i32Const(NC), () => code.localGet(n).localGet(jc).i32Sub());
    forUpTo(code, pc, k, KC, () => {
      setMinU(code, kcBlock, () => code.i32Const(KC), () => code.localGet(k).localGet(pc).i32Sub());
      // The first k block overwrites C unless the caller asked to accumulate.
      code.localGet(pc).i32Eqz().localGet(accumulate).i32Eqz().i32And().localSet(overwrite);
      // packB(&op(B)[pc, jc], …)
      code.localGet(b).localGet(jc).localGet(bLaneStride).i32Mul().i32Add().localGet(pc).localGet(bKStride).i32Mul().i32Add().localSet(bBlock);
      const packBWith = (fn: number): void => {
        code.localGet(bBlock).localGet(bLaneStride).localGet(bKStride).localGet(ncBlock).localGet(kcBlock).localGet(packedB).call(fn);
      };
      code.localGet(bFormat).i32Eqz().if();
      packBWith(FN.packB);
      code.else().localGet(bFormat).i32Const(B_FORMAT.f16).i32Eq().if();
      packBWith(FN.packBF16);
      code.else();
      packBWith(FN.packBBF16);
      code.end().end();
      forUpTo(code, ic, m, MC, () => {
        setMinU(code, mcBlock, () => code.i32Const(MC), () => code.localGet(m).localGet(ic).i32Sub());
        // packA(&op(A)[ic, pc], …)
        code.localGet(a).localGet(ic).localGet(aLaneStride).i32Mul().i32Add().localGet(pc).localGet(aKStride).i32Mul().i32Add();
        code.localGet(aLaneStride).localGet(aKStride).localGet(mcBlock).localGet(kcBlock).localGet(packedA).call(FN.packA);
        forUpTo(code, jr, ncBlock, nr, () => {
          setMinU(code, nrTile, () => code.i32Const(nr), () => code.localGet(ncBlock).localGet(jr).i32Sub());
          // B panel jr/NR starts jr·kc floats into the packed block (each panel is NR·kc floats).
          code.localGet(packedB).localGet(jr).localGet(kcBlock).i32Mul().i32Const(2).i32Shl().i32Add().localSet(bPanel);
          forUpTo(code, ir, mcBlock, mr, () => {
            setMinU(code, mrTile, () => code.i32Const(mr), () => code.localGet(mcBlock).localGet(ir).i32Sub());
            code.localGet(packedA).localGet(ir).localGet(kcBlock).i32Mul().i32Const(2).i32Shl().i32Add().localSet(aPanel);
            // cTile = c + ((ic + ir)·ldc + jc + jr)·4
            code.localGet(c);
            code.localGet(ic).localGet(ir).i32Add().localGet(ldc).i32Mul().localGet(jc).i32Add().localGet(jr).i32Add().i32Const(2).i32Shl();
            code.i32Add().localSet(cTile);
            code.localGet(mrTile).i32Const(mr).i32Eq().localGet(nrTile).i32Const(nr).i32Eq().i32And().if();
            code.localGet(aPanel).localGet(bPanel).localGet(cTile).localGet(ldcBytes).localGet(kcBlock).localGet(overwrite).call(FN.microKernel);
            code.else();
            code.localGet(aPanel).localGet(bPanel).localGet(edgeTile).i32Const(4 * nr).localGet(kcBlock).i32Const(1).call(FN.microKernel);
            code.localGet(edgeTile).localGet(cTile).localGet(ldcBytes).localGet(mrTile).localGet(nrTile).localGet(overwrite).call(FN.addTile);
            code.end();
          });
        });
      });
    });
  });
  // Epilogue, after the last k block: the slice of C is final.
  code.localGet(epilogue).i32Const(EPILOGUE.gelu).i32Eq().if();
  code.localGet(c).localGet(ldcBytes).localGet(m).localGet(n).localGet(edgeTile).call(FN.geluRows);
  code.end();
  return f.definition();
}
