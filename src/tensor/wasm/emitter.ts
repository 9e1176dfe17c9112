/**
 * A small WebAssembly binary emitter: just enough of the format to write the GEMM module by hand.
 *
 * A module is a header followed by sections, each `id, byteLength, contents`. We write five of them:
 *   type (1)      the function signatures,
 *   import (2)    one linear memory `env.memory`, optionally shared between threads,
 *   function (3)  which signature each function has,
 *   export (7)    the names JavaScript calls them by,
 *   code (10)     each function's locals and instruction bytes.
 * Function bodies are built with `Code`, one method per instruction, named after the instruction's text form
 * (`local.get` → `localGet`). Numbers inside instructions are LEB128-encoded, as the spec requires.
 *
 * References: the WebAssembly core specification, "Binary Format" chapter, and the fixed-width SIMD proposal
 * (every SIMD instruction is the prefix byte 0xFD followed by its LEB128 sub-opcode).
 */

/** Value types, with their binary codes. */
export const ValType = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValType = (typeof ValType)[keyof typeof ValType];

/** Unsigned LEB128: 7 bits per byte, low bits first, high bit set on every byte but the last. */
export function unsignedLeb128(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`unsignedLeb128: ${value} is not a non-negative integer`);
  const bytes: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** Signed LEB128 (two's complement), used by `i32.const`: stop once the remaining bits are all copies of the sign bit. */
export function signedLeb128(value: number): number[] {
  if (!Number.isSafeInteger(value)) throw new RangeError(`signedLeb128: ${value} is not an integer`);
  const bytes: number[] = [];
  for (;;) {
    const byte = ((value % 128) + 128) % 128; // low 7 bits, also for negative values
    value = Math.floor(value / 128); // arithmetic shift right by 7
    const signBitOfByte = (byte & 0x40) !== 0;
    const done = (value === 0 && !signBitOfByte) || (value === -1 && signBitOfByte);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

/** A UTF-8 name, length-prefixed. */
function encodeName(text: string): number[] {
  const utf8 = Array.from(new TextEncoder().encode(text));
  return [...unsignedLeb128(utf8.length), ...utf8];
}

/** A length-prefixed vector of already-encoded items. */
function encodeVector(items: number[][]): number[] {
  return [...unsignedLeb128(items.length), ...items.flat()];
}

function encodeSection(id: number, contents: number[]): number[] {
  return [id, ...unsignedLeb128(contents.length), ...contents];
}

const SIMD_PREFIX = 0xfd;
const MISC_PREFIX = 0xfc; // bulk-memory and saturating conversions
const EMPTY_BLOCK_TYPE = 0x40; // a block that takes and leaves nothing on the stack

/**
 * The instruction bytes of one function body. Each method appends one instruction and returns `this`, so a
 * body reads top to bottom like the text format. Memory instructions take the constant byte `offset` added to
 * the address on the stack; the alignment hint is the natural one for the access size.
 */
export class Code {
  readonly bytes: number[] = [];

  private emit(...bytes: number[]): this {
    for (const byte of bytes) this.bytes.push(byte);
    return this;
  }

  private memoryAccess(opcode: number[], alignLog2: number, offset: number): this {
    return this.emit(...opcode, ...unsignedLeb128(alignLog2), ...unsignedLeb128(offset));
  }

  private simd(subOpcode: number): number[] {
    return [SIMD_PREFIX, ...unsignedLeb128(subOpcode)];
  }

  // ── control ──────────────────────────────────────────────────────────────────────────────────────
  /** `block`: a label that `br` jumps *forward* to (past the matching `end`). */
  block(): this { return this.emit(0x02, EMPTY_BLOCK_TYPE); }
  /** `loop`: a label that `br` jumps *backward* to (the top of the loop). */
  loop(): this { return this.emit(0x03, EMPTY_BLOCK_TYPE); }
  /** `if`: pops an i32 and runs the following instructions when it is non-zero. */
  if(): this { return this.emit(0x04, EMPTY_BLOCK_TYPE); }
  /** `else`: the other arm of the innermost `if`. */
  else(): this { return this.emit(0x05); }
  /** `end`: closes a block, loop, if, or the function body. */
  end(): this { return this.emit(0x0b); }
  /** `br depth`: jump to the label `depth` levels out (0 = innermost). */
  br(depth: number): this { return this.emit(0x0c, ...unsignedLeb128(depth)); }
  /** `br_if depth`: pops an i32; jumps like `br` when it is non-zero. */
  brIf(depth: number): this { return this.emit(0x0d, ...unsignedLeb128(depth)); }
  /** `return`: leave the function. */
  return(): this { return this.emit(0x0f); }
  /** `call f`: call function number `f` of this module. */
  call(functionIndex: number): this { return this.emit(0x10, ...unsignedLeb128(functionIndex)); }

  // ── variables ────────────────────────────────────────────────────────────────────────────────────
  /** `local.get i`: push local (or parameter) i. */
  localGet(index: number): this { return this.emit(0x20, ...unsignedLeb128(index)); }
  /** `local.set i`: pop into local i. */
  localSet(index: number): this { return this.emit(0x21, ...unsignedLeb128(index)); }
  /** `local.tee i`: store into local i and keep the value on the stack. */
  localTee(index: number): this { return this.emit(0x22, ...unsignedLeb128(index)); }

  // ── scalar memory ────────────────────────────────────────────────────────────────────────────────
  /** `i32.load`: push the 4-byte integer at address + offset. */
  i32Load(offset = 0): this { return this.memoryAccess([0x28], 2, offset); }
  /** `i32.load16_u`: load 2 bytes and zero-extend them to an i32. */
  i32Load16U(offset = 0): this { return this.memoryAccess([0x2f], 1, offset); }
  /** `i64.load`: push the 8 bytes at address + offset (used to move two floats at once, bit for bit). */
  i64Load(offset = 0): this { return this.memoryAccess([0x29], 3, offset); }
  /** `f32.load`: push the float at address + offset. */
  f32Load(offset = 0): this { return this.memoryAccess([0x2a], 2, offset); }
  /** `i32.store`: pop value, then address; write 4 bytes. */
  i32Store(offset = 0): this { return this.memoryAccess([0x36], 2, offset); }
  /** `i64.store`: pop value, then address; write 8 bytes. */
  i64Store(offset = 0): this { return this.memoryAccess([0x37], 3, offset); }
  /** `f32.store`: pop value, then address; write one float. */
  f32Store(offset = 0): this { return this.memoryAccess([0x38], 2, offset); }
  /** `memory.fill`: pop byte count, byte value, destination; set the bytes (bulk-memory operation). */
  memoryFill(): this { return this.emit(MISC_PREFIX, ...unsignedLeb128(11), 0x00); }

  // ── constants and integer arithmetic ─────────────────────────────────────────────────────────────
  /** `i32.const v`. */
  i32Const(value: number): this { return this.emit(0x41, ...signedLeb128(value | 0)); }
  /** `f32.const v` (4 little-endian IEEE bytes). */
  f32Const(value: number): this { return this.emit(0x43, ...new Uint8Array(Float32Array.of(value).buffer)); }
  /** `i32.eqz`: 1 if the top is zero. */
  i32Eqz(): this { return this.emit(0x45); }
  /** `i32.eq`. */
  i32Eq(): this { return this.emit(0x46); }
  /** `i32.ne`. */
  i32Ne(): this { return this.emit(0x47); }
  /** `i32.lt_u`: unsigned less-than (addresses and counts are unsigned). */
  i32LtU(): this { return this.emit(0x49); }
  /** `i32.gt_u`. */
  i32GtU(): this { return this.emit(0x4b); }
  /** `i32.le_u`. */
  i32LeU(): this { return this.emit(0x4d); }
  /** `i32.ge_u`. */
  i32GeU(): this { return this.emit(0x4f); }
  /** `i32.add` (wraps modulo 2³²). */
  i32Add(): this { return this.emit(0x6a); }
  /** `i32.sub`. */
  i32Sub(): this { return this.emit(0x6b); }
  /** `i32.mul`. */
  i32Mul(): this { return this.emit(0x6c); }
  /** `i32.and`. */
  i32And(): this { return this.emit(0x71); }
  /** `i32.shl`: shift left (×2ⁿ). */
  i32Shl(): this { return this.emit(0x74); }
  /** `drop`: discard the top of the stack. */
  drop(): this { return this.emit(0x1a); }
  /** `select`: pop condition, b, a; push a if the condition is non-zero, else b. */
  select(): this { return this.emit(0x1b); }

  // ── scalar float arithmetic ──────────────────────────────────────────────────────────────────────
  /** `f32.add` (IEEE single precision, round to nearest even). */
  f32Add(): this { return this.emit(0x92); }
  /** `f32.mul`. */
  f32Mul(): this { return this.emit(0x94); }

  // ── SIMD (128-bit vectors; here always four f32 lanes) ───────────────────────────────────────────
  /** `v128.load`: push the 16 bytes at address + offset. */
  v128Load(offset = 0): this { return this.memoryAccess(this.simd(0x00), 4, offset); }
  /** `v128.load32_splat`: load one 4-byte value and copy it into all four lanes (a broadcast). */
  v128Load32Splat(offset = 0): this { return this.memoryAccess(this.simd(0x09), 2, offset); }
  /** `v128.store`: pop a vector, then address; write 16 bytes. */
  v128Store(offset = 0): this { return this.memoryAccess(this.simd(0x0b), 4, offset); }
  /** `v128.const 0`: the all-zero vector (16 immediate bytes). */
  v128ConstZero(): this { return this.emit(...this.simd(0x0c), ...new Array<number>(16).fill(0)); }
  /** `i8x16.shuffle`: pick 16 bytes out of the 32 bytes of two vectors (lane indices 0–31). */
  i8x16Shuffle(byteLanes: readonly number[]): this {
    if (byteLanes.length !== 16 || byteLanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) throw new RangeError("i8x16.shuffle takes 16 lane indices in 0..31");
    return this.emit(...this.simd(0x0d), ...byteLanes);
  }
  /** `f32x4.splat`: pop an f32 and copy it into four lanes. */
  f32x4Splat(): this { return this.emit(...this.simd(0x13)); }
  /** `f32x4.add`: lane-wise addition. */
  f32x4Add(): this { return this.emit(...this.simd(0xe4)); }
  /** `f32x4.mul`: lane-wise multiplication. */
  f32x4Mul(): this { return this.emit(...this.simd(0xe6)); }
  /** `f32x4.sub`: lane-wise subtraction (pops b, then a; pushes a − b). */
  f32x4Sub(): this { return this.emit(...this.simd(0xe5)); }
  /** `f32x4.div`: lane-wise IEEE division (a / b). */
  f32x4Div(): this { return this.emit(...this.simd(0xe7)); }
  /** `f32x4.min`: lane-wise minimum (NaN if either lane is NaN). */
  f32x4Min(): this { return this.emit(...this.simd(0xe8)); }
  /** `f32x4.max`: lane-wise maximum (NaN if either lane is NaN). */
  f32x4Max(): this { return this.emit(...this.simd(0xe9)); }
  /** `f32x4.nearest`: round each lane to the nearest integer, ties to even. */
  f32x4Nearest(): this { return this.emit(...this.simd(0x6a)); }
  /** `i32x4.trunc_sat_f32x4_s`: each f32 lane to a signed i32 (truncating, saturating, NaN → 0). */
  i32x4TruncSatF32x4S(): this { return this.emit(...this.simd(0xf8)); }
  /** `i32x4.splat`: pop an i32 and copy it into four lanes. */
  i32x4Splat(): this { return this.emit(...this.simd(0x11)); }
  /** `i32x4.add`: lane-wise integer addition (wrapping). */
  i32x4Add(): this { return this.emit(...this.simd(0xae)); }
  /** `i32x4.shl`: shift every lane left by the i32 popped last (modulo 32). */
  i32x4Shl(): this { return this.emit(...this.simd(0xab)); }
  /** `v128.load16x4_u`: load four 2-byte values and zero-extend each into a 32-bit lane. */
  v128Load16x4U(offset = 0): this { return this.memoryAccess(this.simd(0x04), 3, offset); }
  /** `v128.and`, `v128.or`: bitwise. */
  v128And(): this { return this.emit(...this.simd(0x4e)); }
  v128Or(): this { return this.emit(...this.simd(0x50)); }
  /** `v128.bitselect`: pop mask, b, a; push (a & mask) | (b & ~mask). */
  v128Bitselect(): this { return this.emit(...this.simd(0x52)); }
  /** `i32x4.gt_s`: lane-wise signed a > b, all ones where true. */
  i32x4GtS(): this { return this.emit(...this.simd(0x3b)); }
  /** `f32x4.extract_lane`: the f32 in lane `lane` of the popped vector. */
  f32x4ExtractLane(lane: number): this {
    if (!Number.isInteger(lane) || lane < 0 || lane > 3) throw new RangeError("f32x4.extract_lane takes a lane in 0..3");
    return this.emit(...this.simd(0x1f), lane);
  }
  /** `f32x4.relaxed_madd` (relaxed SIMD): a·b + c, fused or not as the CPU does it (results may differ by CPU). */
  f32x4RelaxedMadd(): this { return this.emit(...this.simd(0x105)); }
}

/** One function of the module: its signature, its extra locals (after the parameters), and its body. */
export interface FunctionDefinition {
  /** Export name, or null for a function only called from inside the module. */
  exportName: string | null;
  params: readonly ValType[];
  results: readonly ValType[];
  locals: readonly ValType[];
  code: Code;
}

/** The imported linear memory. Shared memories must declare a maximum (threads need a fixed reservation). */
export interface MemoryImport {
  initialPages: number;
  maximumPages: number;
  shared: boolean;
}

/**
 * Helps write one function: hands out parameter and local indices by name, so the body can say
 * `code.localGet(kc)` instead of a bare number.
 */
export class FunctionBuilder {
  readonly code = new Code();
  private readonly localTypes: ValType[] = [];

  constructor(
    readonly exportName: string | null,
    private readonly paramTypes: readonly ValType[],
    private readonly resultTypes: readonly ValType[] = [],
  ) {}

  /** Index of parameter `i` (parameters come first in the local index space). */
  param(i: number): number {
    if (i < 0 || i >= this.paramTypes.length) throw new RangeError(`no parameter ${i}`);
    return i;
  }

  /** Declare a new local of the given type; returns its index. */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.paramTypes.length + this.localTypes.length - 1;
  }

  definition(): FunctionDefinition {
    return { exportName: this.exportName, params: this.paramTypes, results: this.resultTypes, locals: this.localTypes, code: this.code };
  }
}

/** Locals are declared in runs of equal type: `count, type` pairs. */
function encodeLocals(locals: readonly ValType[]): number[] {
  const runs: number[][] = [];
  for (let i = 0; i < locals.length; ) {
    let j = i;
    while (j < locals.length && locals[j] === locals[i]) j++;
    runs.push([...unsignedLeb128(j - i), locals[i]!]);
    i = j;
  }
  return encodeVector(runs);
}

/** Encode a whole module: the functions in order (function i has index i), importing `env.memory`. */
export function encodeModule(functions: readonly FunctionDefinition[], memory: MemoryImport): Uint8Array {
  const FUNCTION_TYPE = 0x60;
  const types = functions.map((f) => [FUNCTION_TYPE, ...encodeVector(f.params.map((t) => [t])), ...encodeVector(f.results.map((t) => [t]))]);
  const typeSection = encodeSection(1, encodeVector(types));

  const MEMORY_IMPORT = 0x02;
  // Limits flags: bit 0 = a maximum follows, bit 1 = shared.
  const limitsFlags = memory.shared ? 0x03 : 0x01;
  const memoryImport = [...encodeName("env"), ...encodeName("memory"), MEMORY_IMPORT, limitsFlags, ...unsignedLeb128(memory.initialPages), ...unsignedLeb128(memory.maximumPages)];
  const importSection = encodeSection(2, encodeVector([memoryImport]));

  const functionSection = encodeSection(3, encodeVector(functions.map((_, i) => unsignedLeb128(i))));

  const FUNCTION_EXPORT = 0x00;
  const exports = functions.flatMap((f, i) => (f.exportName === null ? [] : [[...encodeName(f.exportName), FUNCTION_EXPORT, ...unsignedLeb128(i)]]));
  const exportSection = encodeSection(7, encodeVector(exports));

  const bodies = functions.map((f) => {
    const body = [...encodeLocals(f.locals), ...f.code.bytes, 0x0b /* end of the function */];
    return [...unsignedLeb128(body.length), ...body];
  });
  const codeSection = encodeSection(10, encodeVector(bodies));

  const MAGIC = [0x00, 0x61, 0x73, 0x6d]; // "\0asm"
  const VERSION = [0x01, 0x00, 0x00, 0x00];
  return Uint8Array.from([...MAGIC, ...VERSION, ...typeSection, ...importSection, ...functionSection, ...exportSection, ...codeSection]);
}
