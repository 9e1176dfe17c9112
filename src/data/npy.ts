/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), read in bounded pieces.
 *
 *   "\x93NUMPY" major minor   header length (u16 little-endian in 1.0, u32 in 2.0 and 3.0)
 *   header                    a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
 *                             (latin-1 in 1.x/2.x, UTF-8 in 3.0), space-padded, ending in a newline
 *   data                      N·D elements, C (row-major) or Fortran (column-major) order, in descr's byte order
 *
 * Accepted: float32 and float16 (and float64, rounded to float32), little- or big-endian ('<', '>', '=' native,
 * '|'), C order of any rank ≥ 2 read as rows × last axis, and Fortran order for 2-D arrays. The file must be
 * exactly header + data (what np.save writes). Anything else — structured dtypes, objects, integers, a header that
 * is not the dict np.save writes — is refused in one line naming the file and the problem.
 *
 * Node has no mmap, so "memory-mapped" reading is done the way mmap would page it in: each `readRows` call reads
 * just the byte ranges of the rows asked for with fs.readSync at their offsets (one range in C order; one per column
 * in Fortran order), so memory holds one chunk of rows at a time and a file larger than RAM streams.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { decodeF16 } from "../tensor/half.ts";

/** A .npy file that is not an activation array np.save wrote (the message names the file and the problem). */
export class NpyError extends Error {
  override name = "NpyError";
}

/** The element types read: float16, float32, float64. */
export type NpyDType = "f2" | "f4" | "f8";

/** What a .npy header says. */
export interface NpyHeader {
  version: string;
  dtype: NpyDType;
  bigEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data. */
  dataOffset: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const WIDTH: Record<NpyDType, number> = { f2: 2, f4: 4, f8: 8 };

/** A parser for the one Python literal np.save writes: a dict of strings, booleans, ints and tuples of ints. */
function parseHeaderDict(text: string, fail: (p: string) => never): Record<string, unknown> {
  let i = 0;
  const ws = () => { while (i < text.length && /\s/.test(text[i]!)) i++; };
  const expect = (c: string) => { ws(); if (text[i] !== c) fail(`header: expected "${c}" at character ${i}`); i++; };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail("header: unterminated string");
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    if (c === "(") {
      i++;
      const items: number[] = [];
      for (;;) {
        ws();
        if (text[i] === ")") { i++; return items; }
        const m = /^\d+/.exec(text.slice(i));
        if (!m) fail(`header: shape must be a tuple of non-negative integers (at character ${i})`);
        items.push(Number(m[0]));
        i += m[0].length;
        ws();
        if (text[i] === ",") i++;
        else if (text[i] !== ")") fail(`header: expected "," or ")" in the shape at character ${i}`);
      }
    }
    if (text.startsWith("True", i)) { i += 4; return true; }
    if (text.startsWith("False", i)) { i += 5; return false; }
    return fail(`header: unexpected ${JSON.stringify(text.slice(i, i + 12))} at character ${i} (structured or object dtypes are not activations)`);
  };
  expect("{");
  const out: Record<string, unknown> = {};
  for (;;) {
    ws();
    if (text[i] === "}") { i++; break; }
    const key = value();
    if (typeof key !== "string") fail("header: keys must be strings");
    expect(":");
    if (key in out) fail(`header: key '${key}' appears twice`);
    out[key as string] = value();
    ws();
    if (text[i] === ",") i++;
    else if (text[i] !== "}") fail(`header: expected "," or "}" at character ${i}`);
  }
  ws();
  if (i !== text.length) fail("header: text after the dict");
  return out;
}

/** An open .npy file: its header, and rows read on demand. */
export class NpyFile {
  readonly header: NpyHeader;
  /** Rows (the product of every axis but the last) and the row length (the last axis). */
  readonly rows: number;
  readonly d: number;
  readonly bytes: number;

  constructor(private readonly fd: number, readonly path: string) {
    const size = fstatSync(fd).size;
    this.bytes = size;
    const pre = this.read(0, Math.min(size, 12));
    if (pre.length < 10 || MAGIC.some((b, k) => pre[k] !== b)) this.fail("is not a .npy file (no \\x93NUMPY magic)");
    const major = pre[6]!, minor = pre[7]!;
    if (![1, 2, 3].includes(major) || minor !== 0) this.fail(`is .npy format ${major}.${minor}; sae-seeds reads 1.0, 2.0 and 3.0`);
    const view = new DataView(pre.buffer, pre.byteOffset, pre.byteLength);
    if (major > 1 && pre.length < 12) this.fail("ends inside its header (truncated)");
    const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
    const start = major === 1 ? 10 : 12;
    if (headerLength > 1 << 20 || start + headerLength > size) this.fail(`claims a ${headerLength}-byte header, past the end of the ${size}-byte file (truncated?)`);
    const raw = this.read(start, headerLength);
    const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(raw);
    if (!text.endsWith("\n")) this.fail("has a header that does not end in a newline (not written by np.save)");
    const dict = parseHeaderDict(text.trimEnd(), (p) => this.fail(p));
    const keys = Object.keys(dict).sort().join(",");
    if (keys !== "descr,fortran_order,shape") this.fail(`header has keys {${keys}}; np.save writes exactly descr, fortran_order and shape`);
    const descr = dict.descr, fortran = dict.fortran_order, shape = dict.shape;
    if (typeof descr !== "string") this.fail("header: descr is not a string (structured dtypes are not activations)");
    const m = /^([<>=|])(f2|f4|f8)$/.exec(descr);
    if (!m) this.fail(`has dtype '${descr}'; activations must be float16, float32 or float64 ('<f4', '>f2', …)`);
    if (typeof fortran !== "boolean") this.fail("header: fortran_order is not True or False");
    if (!Array.isArray(shape)) this.fail("header: shape is not a tuple");
    const dims = shape as number[];
    if (dims.length < 2) this.fail(`has shape (${dims.join(", ")}); activations are [rows, d_in] (or [..., d_in])`);
    if (fortran && dims.length !== 2) this.fail(`is Fortran-ordered with ${dims.length} axes; save it as 2-D [rows, d_in] or in C order`);
    const dtype = m[2] as NpyDType;
    const d = dims[dims.length - 1]!;
    let rows = 1;
    for (const x of dims.slice(0, -1)) rows *= x;
    if (!(d >= 1) || !(rows >= 1)) this.fail(`has shape (${dims.join(", ")}), with no rows or no columns`);
    const dataOffset = start + headerLength;
    const expected = dataOffset + rows * d * WIDTH[dtype];
    if (!Number.isSafeInteger(expected) || size !== expected) this.fail(`is ${size} bytes but its header (${dims.join(" × ")} × ${WIDTH[dtype]}-byte elements after a ${dataOffset}-byte header) says ${expected}; the file is truncated or not what its header says`);
    this.header = { version: `${major}.0`, dtype, bigEndian: m[1] === ">", fortranOrder: fortran as boolean, shape: dims, dataOffset };
    this.rows = rows;
    this.d = d;
  }

  /** Throw an NpyError naming this file. */
  fail(problem: string): never {
    throw new NpyError(`${this.path}: ${problem}`);
  }

  private read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (n <= 0) this.fail(`ends early at byte ${offset + done}`);
      done += n;
    }
    return out;
  }

  /** Elements from raw bytes in the file's dtype and byte order, as float32. */
  private decode(bytes: Uint8Array): Float32Array {
    const w = WIDTH[this.header.dtype];
    if (this.header.bigEndian) for (let i = 0; i < bytes.length; i += w) bytes.subarray(i, i + w).reverse();
    const n = bytes.length / w;
    if (this.header.dtype === "f4") return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    if (this.header.dtype === "f2") return decodeF16(new Uint16Array(bytes.buffer, bytes.byteOffset, n));
    return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, n));
  }

  /** Rows [start, start + count) as float32 [count, d], reading only their bytes. */
  readRows(start: number, count: number): Float32Array {
    if (!(start >= 0 && count >= 0 && start + count <= this.rows)) this.fail(`rows ${start}..${start + count} asked for, but it has ${this.rows}`);
    const w = WIDTH[this.header.dtype], d = this.d, base = this.header.dataOffset;
    if (!this.header.fortranOrder) return this.decode(this.read(base + start * d * w, count * d * w));
    const out = new Float32Array(count * d);
    for (let j = 0; j < d; j++) {
      const column = this.decode(this.read(base + (j * this.rows + start) * w, count * w));
      for (let r = 0; r < count; r++) out[r * d + j] = column[r]!;
    }
    return out;
  }

  /** Close the file. */
  close(): void {
    closeSync(this.fd);
  }
}

/** Open a .npy file and check its header against its size (the data is read only when asked for). */
export function openNpy(path: string): NpyFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new NpyError(`${path}: cannot open (${(e as Error).message})`);
  }
  try {
    return new NpyFile(fd, path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
