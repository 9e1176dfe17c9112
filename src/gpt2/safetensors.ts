/**
 * A strict reader and writer for the safetensors format:
 *
 *   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data section]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
 * section) and may hold "__metadata__", a string→string map. Reading trusts nothing: every rule below is checked
 * before any allocation that depends on the header, and a violation throws a SafetensorsError naming the file,
 * the tensor and the rule. Tensors are read one at a time at their file offset, so a 548 MB checkpoint never
 * needs two full copies in memory.
 *
 * Rules: N fits in the file and is ≤ 100 MB; the header is UTF-8 JSON, an object, with no duplicate keys at any
 * level; every entry has exactly dtype/shape/data_offsets; dtype is known; shape is a list of non-negative
 * integers; offsets are integers with begin ≤ end ≤ data length; end − begin = product(shape) × dtype size;
 * sorted by offset the tensors tile the data section exactly (no overlap, no gap, nothing after the last).
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "../tensor/half.ts";

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export type DType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

export const DTYPE_BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export type TensorData = Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array | Uint16Array;

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Byte offsets within the data section. */
  begin: number;
  end: number;
}

export interface TensorEntry {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** A safetensors file that breaks the format (the message names the file, the tensor and the rule). */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(file: string, tensor: string | null, rule: string): never {
  throw new SafetensorsError(`${file}${tensor !== null ? `: tensor "${tensor}"` : ""}: ${rule}`);
}

/**
 * Find duplicate object keys anywhere in a JSON text that JSON.parse has already accepted (JSON.parse silently
 * keeps the last duplicate, which would let a file say two things about one tensor).
 */
function findDuplicateKey(text: string): string | null {
  const stack: (Set<string> | null)[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "{") { stack.push(new Set()); i++; continue; }
    if (ch === "[") { stack.push(null); i++; continue; }
    if (ch === "}" || ch === "]") { stack.pop(); i++; continue; }
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const raw = text.slice(i, j + 1);
      i = j + 1;
      let k = i;
      while (k < text.length && /\s/.test(text[k]!)) k++;
      const top = stack[stack.length - 1];
      if (text[k] === ":" && top) {
        const key = JSON.parse(raw) as string;
        if (top.has(key)) return key;
        top.add(key);
      }
      continue;
    }
    i++;
  }
  return null;
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Validate a header against the data section's length; returns tensors in name order and the metadata. */
export function parseHeader(headerText: string, dataLength: number, file: string): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(headerText);
  } catch (e) {
    fail(file, null, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail(file, null, "header must be a JSON object");
  const dup = findDuplicateKey(headerText);
  if (dup !== null) fail(file, null, `header has the key "${dup}" twice`);
  const tensors = new Map<string, TensorInfo>();
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of Object.keys(json)) {
    const entry = (json as Record<string, unknown>)[name];
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) fail(file, null, "__metadata__ must be an object of strings");
      for (const key of Object.keys(entry)) {
        const v = (entry as Record<string, unknown>)[key];
        if (typeof v !== "string") fail(file, null, `__metadata__["${key}"] must be a string`);
        metadata[key] = v;
      }
      continue;
    }
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) fail(file, name, "entry must be an object");
    const e = entry as Record<string, unknown>;
    const extra = Object.keys(e).filter((k) => k !== "dtype" && k !== "shape" && k !== "data_offsets");
    if (extra.length) fail(file, name, `unknown field(s) ${extra.join(", ")}`);
    if (typeof e.dtype !== "string" || !(e.dtype in DTYPE_BYTES)) fail(file, name, `unknown dtype ${JSON.stringify(e.dtype)}; supported: ${Object.keys(DTYPE_BYTES).join(", ")}`);
    if (!Array.isArray(e.shape) || !e.shape.every(isNonNegativeInt)) fail(file, name, "shape must be a list of non-negative integers");
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !isNonNegativeInt(off[0]) || !isNonNegativeInt(off[1])) fail(file, name, "data_offsets must be two non-negative integers");
    const [begin, end] = off as [number, number];
    if (begin > end) fail(file, name, `data_offsets [${begin}, ${end}] run backwards`);
    if (end > dataLength) fail(file, name, `data_offsets end ${end} lies beyond the data section (${dataLength} bytes)`);
    const dtype = e.dtype as DType;
    // Multiply step by step, stopping as soon as the product exceeds what the span could hold: no overflow.
    let elements = 1;
    for (const d of e.shape as number[]) {
      elements *= d;
      if (elements * DTYPE_BYTES[dtype] > end - begin && d !== 0) break;
    }
    if ((e.shape as number[]).includes(0)) elements = 0;
    if (elements * DTYPE_BYTES[dtype] !== end - begin) {
      fail(file, name, `byte length ${end - begin} does not equal product of shape [${(e.shape as number[]).join(", ")}] × ${DTYPE_BYTES[dtype]} bytes (${dtype})`);
    }
    tensors.set(name, { name, dtype, shape: e.shape as number[], begin, end });
  }
  const byOffset = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of byOffset) {
    if (t.begin < cursor) fail(file, t.name, `overlaps the previous tensor (starts at ${t.begin}, previous ends at ${cursor})`);
    if (t.begin > cursor) fail(file, t.name, `leaves a gap: starts at ${t.begin}, previous ends at ${cursor}`);
    cursor = t.end;
  }
  if (cursor !== dataLength) fail(file, null, `data section has ${dataLength - cursor} trailing bytes no tensor claims`);
  return { tensors, metadata };
}

function viewAs(dtype: DType, bytes: Uint8Array, count: number): TensorData {
  // `bytes` always owns a fresh, aligned ArrayBuffer (offset 0).
  if (!LITTLE_ENDIAN && DTYPE_BYTES[dtype] > 1) {
    const size = DTYPE_BYTES[dtype];
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  }
  switch (dtype) {
    case "F64": return new Float64Array(bytes.buffer, 0, count);
    case "F32": return new Float32Array(bytes.buffer, 0, count);
    case "F16": case "BF16": return new Uint16Array(bytes.buffer, 0, count);
    case "I64": return new BigInt64Array(bytes.buffer, 0, count);
    case "I32": return new Int32Array(bytes.buffer, 0, count);
    case "I16": return new Int16Array(bytes.buffer, 0, count);
    case "I8": return new Int8Array(bytes.buffer, 0, count);
    case "U8": case "BOOL": return bytes;
  }
}

/** A parsed file: lists tensors and reads each on demand. */
export class SafetensorsFile {
  constructor(
    readonly label: string,
    private readonly tensors: Map<string, TensorInfo>,
    private readonly meta: Record<string, string>,
    private readonly readBytes: (offset: number, length: number) => Uint8Array,
    private readonly onClose: () => void = () => {},
  ) {}

  /** Every tensor name in the file, in header order. */
  names(): string[] {
    return [...this.tensors.keys()].sort();
  }

  /** Whether the file holds a tensor of this name. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** A tensor's dtype, shape and byte range, or an error naming the file and tensor. */
  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.label}: no tensor "${name}" (it has ${this.tensors.size}: ${this.names().slice(0, 6).join(", ")}${this.tensors.size > 6 ? ", …" : ""})`);
    return t;
  }

  /** The header's __metadata__ strings. */
  metadata(): Record<string, string> {
    return { ...this.meta };
  }

  /** The tensor in its stored dtype (F16/BF16 as raw Uint16 codes). */
  readTensor(name: string): TensorEntry {
    const t = this.info(name);
    const bytes = this.readBytes(t.begin, t.end - t.begin);
    const count = (t.end - t.begin) / DTYPE_BYTES[t.dtype];
    return { dtype: t.dtype, shape: [...t.shape], data: viewAs(t.dtype, bytes, count) };
  }

  /**
   * Rows [first, first + count) of a floating-point tensor [rows, …] as Float32, reading only their bytes (so a
   * tensor larger than memory can be streamed).
   */
  readRowsFloat32(name: string, first: number, count: number): Float32Array {
    const t = this.info(name);
    const rows = t.shape[0] ?? 1;
    const rowElements = t.shape.length === 0 ? 1 : t.shape.slice(1).reduce((a, b) => a * b, 1);
    if (!(first >= 0 && count >= 0 && first + count <= rows)) throw new SafetensorsError(`${this.label}: rows ${first}..${first + count} of tensor "${name}" asked for, but it has ${rows}`);
    const width = DTYPE_BYTES[t.dtype];
    const bytes = this.readBytes(t.begin + first * rowElements * width, count * rowElements * width);
    const data = viewAs(t.dtype, bytes, count * rowElements);
    switch (t.dtype) {
      case "F32": return data as Float32Array;
      case "F16": return decodeF16(data as Uint16Array);
      case "BF16": return decodeBf16(data as Uint16Array);
      case "F64": return Float32Array.from(data as Float64Array);
      default: throw new SafetensorsError(`${this.label}: tensor "${name}" has dtype ${t.dtype}, expected a floating-point type`);
    }
  }

  /** A floating-point tensor as Float32 (F16 and BF16 upcast exactly; F64 rounded). */
  readFloat32(name: string): Float32Array {
    const { dtype, data } = this.readTensor(name);
    switch (dtype) {
      case "F32": return data as Float32Array;
      case "F16": return decodeF16(data as Uint16Array);
      case "BF16": return decodeBf16(data as Uint16Array);
      case "F64": return Float32Array.from(data as Float64Array);
      default: throw new SafetensorsError(`${this.label}: tensor "${name}" has dtype ${dtype}, expected a floating-point type`);
    }
  }

  /** A float tensor as float64. */
  readFloat64(name: string): Float64Array {
    const { dtype, data } = this.readTensor(name);
    if (dtype === "F64") return data as Float64Array;
    return Float64Array.from(this.readFloat32(name));
  }

  /** An integer tensor as Int32 (I64 values must fit). */
  readInt32(name: string): Int32Array {
    const { dtype, data } = this.readTensor(name);
    if (dtype === "I32") return data as Int32Array;
    if (dtype === "I64") {
      const src = data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) throw new SafetensorsError(`${this.label}: tensor "${name}" value ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      return out;
    }
    if (dtype === "I16" || dtype === "I8" || dtype === "U8" || dtype === "BOOL") return Int32Array.from(data as Int16Array);
    throw new SafetensorsError(`${this.label}: tensor "${name}" has dtype ${dtype}, expected an integer type`);
  }

  /** Close the file (reads after this fail). */
  close(): void {
    this.onClose();
  }
}

function headerLength(prefix: Uint8Array, fileSize: number, label: string): number {
  if (fileSize < 8) fail(label, null, `file is ${fileSize} bytes, too short for the 8-byte header length`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  if (hi !== 0 || lo > MAX_HEADER_BYTES) fail(label, null, `header length ${hi * 2 ** 32 + lo} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + lo > fileSize) fail(label, null, `header length ${lo} runs past the end of the ${fileSize}-byte file (truncated?)`);
  return lo;
}

function decodeHeader(bytes: Uint8Array, label: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail(label, null, "header is not valid UTF-8");
  }
}

/** Parse a whole file held in memory. */
export function parseSafetensors(bytes: Uint8Array, label = "<memory>"): SafetensorsFile {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, label);
  const { tensors, metadata } = parseHeader(decodeHeader(bytes.subarray(8, 8 + n), label), bytes.length - 8 - n, label);
  const dataStart = 8 + n;
  return new SafetensorsFile(label, tensors, metadata, (offset, length) => bytes.slice(dataStart + offset, dataStart + offset + length));
}

/** Open a file and validate its header; tensors are read lazily by offset. Call close() when done. */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot open (${(e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    readSync(fd, prefix, 0, Math.min(8, size), 0);
    const n = headerLength(prefix, size, path);
    const header = new Uint8Array(n);
    readSync(fd, header, 0, n, 8);
    const { tensors, metadata } = parseHeader(decodeHeader(header, path), size - 8 - n, path);
    const dataStart = 8 + n;
    return new SafetensorsFile(path, tensors, metadata, (offset, length) => {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const got = readSync(fd, out, done, Math.min(length - done, 1 << 30), dataStart + offset + done);
        if (got === 0) throw new SafetensorsError(`${path}: file ended while reading (changed on disk?)`);
        done += got;
      }
      return out;
    }, () => closeSync(fd));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Everything a writer accepts: typed data matching the dtype, or Float32 data for F16/BF16 (encoded here). */
export interface WritableTensor {
  dtype: DType;
  shape: number[];
  data: TensorData | number[];
}

function tensorBytes(name: string, t: WritableTensor): Uint8Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (!t.shape.every(isNonNegativeInt)) throw new SafetensorsError(`write: tensor "${name}" has an invalid shape [${(t.shape as number[]).join(", ")}]`);
  if (t.data.length !== count) throw new SafetensorsError(`write: tensor "${name}" has ${t.data.length} values for shape [${t.shape.join(", ")}]`);
  let typed: TensorData;
  const src = t.data;
  switch (t.dtype) {
    case "F64": typed = src instanceof Float64Array ? src : Float64Array.from(src as ArrayLike<number>); break;
    case "F32": typed = src instanceof Float32Array ? src : Float32Array.from(src as ArrayLike<number>); break;
    case "F16": typed = src instanceof Uint16Array ? src : encodeF16(src instanceof Float32Array ? src : Float32Array.from(src as ArrayLike<number>)); break;
    case "BF16": typed = src instanceof Uint16Array ? src : encodeBf16(src instanceof Float32Array ? src : Float32Array.from(src as ArrayLike<number>)); break;
    case "I64": typed = src instanceof BigInt64Array ? src : BigInt64Array.from(src as ArrayLike<number>, (v) => BigInt(v)); break;
    case "I32": typed = src instanceof Int32Array ? src : Int32Array.from(src as ArrayLike<number>); break;
    case "I16": typed = src instanceof Int16Array ? src : Int16Array.from(src as ArrayLike<number>); break;
    case "I8": typed = src instanceof Int8Array ? src : Int8Array.from(src as ArrayLike<number>); break;
    case "U8": case "BOOL": typed = src instanceof Uint8Array ? src : Uint8Array.from(src as ArrayLike<number>); break;
    default: throw new SafetensorsError(`write: tensor "${name}" has unknown dtype ${String(t.dtype)}`);
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (LITTLE_ENDIAN || DTYPE_BYTES[t.dtype] === 1) return bytes;
  const copy = bytes.slice();
  const size = DTYPE_BYTES[t.dtype];
  for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return copy;
}

/** The header bytes and data chunks of a file, tensors sorted by name (deterministic output). */
function layout(tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): { header: Uint8Array; chunks: Uint8Array[] } {
  const names = Object.keys(tensors).sort();
  // A null-prototype object: a tensor named "__proto__" must become a key of the header like any other name,
  // not replace the object's prototype (which would silently drop it from the JSON).
  const header = Object.create(null) as Record<string, unknown>;
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== "string") throw new SafetensorsError(`write: __metadata__["${k}"] must be a string`);
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new SafetensorsError('write: "__metadata__" cannot be a tensor name');
    const t = tensors[name]!;
    const bytes = tensorBytes(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  let text = JSON.stringify(header);
  // Pad with spaces to a multiple of 8 so the data section starts aligned, as the reference writer does.
  const encoded = new TextEncoder().encode(text);
  const padded = Math.ceil(encoded.length / 8) * 8;
  text += " ".repeat(padded - encoded.length);
  const headerBytes = new Uint8Array(8 + padded);
  new DataView(headerBytes.buffer).setUint32(0, padded, true);
  headerBytes.set(new TextEncoder().encode(text), 8);
  return { header: headerBytes, chunks };
}

/** Tensors (and optional metadata) as the bytes of one safetensors file. */
export function serializeSafetensors(tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): Uint8Array {
  const { header, chunks } = layout(tensors, metadata);
  const out = new Uint8Array(header.length + chunks.reduce((s, c) => s + c.length, 0));
  out.set(header, 0);
  let o = header.length;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Write atomically: to `<path>.tmp-<pid>`, then rename, so a crash never leaves half a file under `path`. */
/** Write a file (temp name, then rename) and return its size and sha256, hashed as it is written. */
export function writeSafetensors(path: string, tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): { bytes: number; sha256: string } {
  const { header, chunks } = layout(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for (const c of [header, ...chunks]) {
      writeAll(fd, c);
      hash.update(c);
      bytes += c.length;
    }
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return { bytes, sha256: hash.digest("hex") };
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}
