/**
 * PyTorch checkpoints (`torch.save`, PyTorch ≥ 1.6), read without running any of their code.
 *
 * The container is an uncompressed zip archive:
 *
 *   <prefix>/data.pkl      the pickled object (a state dict: an OrderedDict of tensors)
 *   <prefix>/data/<key>    each storage's raw bytes, named by the key its persistent id gives
 *   <prefix>/version       the serialisation format ("3" today)
 *   <prefix>/byteorder     "little" or "big" (absent in older files: little)
 *
 * The zip is read from its central directory (zip64 records honoured, so files over 4 GiB work), every entry is
 * checked — stored (no compression), no encryption, inside the file, its local header naming the same file, its
 * CRC-32 — and `data.pkl` is interpreted by ./torch_pickle.ts, which accepts only what a state dict needs. A
 * tensor's bytes are read at their offset when asked for, so memory holds one tensor at a time.
 *
 * Every failure is a TorchFileError: one line naming the file, what is wrong and what to do.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { interpretPickle, PickleDict, TorchTensorRef, describePickleValue, type PickleValue, type StorageDType } from "./torch_pickle.ts";
import { decodeBf16, decodeF16 } from "../tensor/half.ts";

/** A PyTorch checkpoint that cannot be read safely and exactly: the message names the file and the problem. */
export class TorchFileError extends Error {
  override name = "TorchFileError";
}

const EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;
/** Central directories larger than this are not PyTorch checkpoints (a state dict has one entry per tensor). */
const MAX_CENTRAL_BYTES = 64 * 1024 * 1024;
/** data.pkl above this is refused before it is read (real state dicts: kilobytes to a few megabytes). */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

/** Bytes per element of each storage type. */
export const STORAGE_BYTES: Record<StorageDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

interface ZipEntry {
  name: string;
  /** Offset of the entry's data (past its local header). */
  dataOffset: number;
  size: number;
  crc32: number;
}

let CRC_TABLE: Uint32Array | null = null;
/** CRC-32 (IEEE 802.3, the zip checksum), continuing from `crc`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** A little-endian reader over a byte range that refuses to read past its end. */
class Cursor {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, public pos: number, private readonly fail: (what: string) => never) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.bytes.length) this.fail(`${what} runs past the end of the zip directory`);
  }
  u16(): number { this.need(2, "a field"); const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  u32(): number { this.need(4, "a field"); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(): number {
    this.need(8, "a field");
    const lo = this.view.getUint32(this.pos, true), hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    if (hi >= 0x200000) this.fail("a 64-bit size or offset beyond 2^53");
    return hi * 0x100000000 + lo;
  }
  take(n: number, what: string): Uint8Array { this.need(n, what); const b = this.bytes.subarray(this.pos, this.pos + n); this.pos += n; return b; }
}

/** A tensor of a checkpoint, read when asked for. */
export interface TorchTensor {
  name: string;
  dtype: StorageDType;
  shape: number[];
  /** The elements in row-major order, as float32 (integers converted exactly where they fit). */
  readFloat32(): Float32Array;
  /** Integer tensors' elements as JS numbers (refused for floating-point tensors). */
  readIntegers(): number[];
}

/** An open torch.save checkpoint: its zip records, the unpickled root object and its tensors. */
export class TorchCheckpoint {
  private readonly entries: Map<string, ZipEntry>;
  private readonly prefix: string;
  private readonly bigEndian: boolean;
  /** The unpickled object (state dicts: a PickleDict of TorchTensorRef). */
  readonly root: PickleValue;

  constructor(private readonly fd: number, readonly path: string) {
    const size = fstatSync(fd).size;
    this.entries = this.readDirectory(size);
    const pickles = [...this.entries.keys()].filter((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
    if (pickles.length !== 1) {
      if (this.entries.has("constants.pkl") || [...this.entries.keys()].some((n) => n.endsWith("/constants.pkl"))) this.fail("is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save the model's state_dict() with torch.save");
      this.fail(pickles.length === 0 ? "is a zip archive without data.pkl, so not a PyTorch checkpoint" : `holds ${pickles.length} data.pkl records; a torch.save checkpoint has one`);
    }
    this.prefix = pickles[0]!.slice(0, -"data.pkl".length);
    const version = this.entries.get(`${this.prefix}version`) ?? this.entries.get(`${this.prefix}.data/version`);
    if (version) {
      const text = new TextDecoder().decode(this.readEntry(version)).trim();
      if (!/^[1-3]$/.test(text)) this.fail(`has serialisation version "${text.slice(0, 20)}"; sae-seeds reads versions 1–3 (torch ≥ 1.6); re-save it with this PyTorch's torch.save`);
    }
    const order = this.entries.get(`${this.prefix}byteorder`);
    const orderText = order ? new TextDecoder().decode(this.readEntry(order)).trim() : "little";
    if (orderText !== "little" && orderText !== "big") this.fail(`has byteorder "${orderText.slice(0, 20)}", expected little or big`);
    this.bigEndian = orderText === "big";
    const pkl = this.entries.get(pickles[0]!)!;
    if (pkl.size > MAX_PICKLE_BYTES) this.fail(`has a ${pkl.size}-byte data.pkl; a state dict's is far smaller, so this is not one`);
    try {
      this.root = interpretPickle(this.readEntry(pkl));
    } catch (e) {
      this.fail(`data.pkl: ${(e as Error).message}`);
    }
  }

  /** Throw a TorchFileError naming this file. */
  fail(problem: string): never {
    throw new TorchFileError(`${this.path}: ${problem}`);
  }

  private readAt(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n <= 0) this.fail(`ends early (wanted ${length} bytes at offset ${offset}); the file is truncated`);
      done += n;
    }
    return out;
  }

  private readDirectory(fileSize: number): Map<string, ZipEntry> {
    if (fileSize < 22) this.fail(`is ${fileSize} bytes, too short to be a zip archive`);
    const head = this.readAt(0, Math.min(4, fileSize));
    if (head[0] === 0x80 && head[1] !== undefined && head[1] <= 5) this.fail("is a PyTorch checkpoint in the legacy (pre-1.6) format, which sae-seeds does not read; re-save it with torch.save from PyTorch ≥ 1.6");
    if (!(head[0] === 0x50 && head[1] === 0x4b)) this.fail("is not a zip archive, so not a PyTorch (≥ 1.6) checkpoint");
    const tailLength = Math.min(fileSize, 22 + 0xffff + 20);
    const tailStart = fileSize - tailLength;
    const tail = this.readAt(tailStart, tailLength);
    const tv = new DataView(tail.buffer);
    let eocd = -1;
    for (let i = tailLength - 22; i >= 0; i--) if (tv.getUint32(i, true) === EOCD) { eocd = i; break; }
    if (eocd < 0) this.fail("has no zip end-of-central-directory record; the file is truncated or not a zip archive");
    const fail = (what: string): never => this.fail(`zip directory: ${what}`);
    const end = new Cursor(tail, eocd + 4, fail);
    const disk = end.u16(), cdDisk = end.u16();
    let count = (end.u16(), end.u16());
    let cdSize = end.u32(), cdOffset = end.u32();
    if (disk !== 0 || cdDisk !== 0) fail("spans several disks");
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      if (eocd < 20 || tv.getUint32(eocd - 20, true) !== ZIP64_LOCATOR) fail("needs a zip64 record, which is missing");
      const loc = new Cursor(tail, eocd - 20 + 8, fail);
      const z64Offset = loc.u64();
      if (z64Offset + 56 > fileSize) fail("its zip64 record lies outside the file");
      const z = new Cursor(this.readAt(z64Offset, 56), 0, fail);
      if (z.u32() !== ZIP64_EOCD) fail("the zip64 record has a wrong signature");
      z.pos = 24;
      count = z.u64();
      z.u64();
      cdSize = z.u64();
      cdOffset = z.u64();
    }
    if (cdSize > MAX_CENTRAL_BYTES || count > cdSize / 46 + 1) fail(`claims ${count} entries in ${cdSize} bytes, not a PyTorch checkpoint's directory`);
    if (cdOffset + cdSize > fileSize) fail("lies outside the file; the file is truncated");
    const cd = new Cursor(this.readAt(cdOffset, cdSize), 0, fail);
    const entries = new Map<string, ZipEntry>();
    for (let i = 0; i < count; i++) {
      if (cd.u32() !== CENTRAL) fail(`entry ${i} has a wrong signature`);
      cd.pos += 4; // versions
      const flags = cd.u16(), method = cd.u16();
      cd.pos += 4; // time, date
      const crc = cd.u32();
      let compressed = cd.u32(), size = cd.u32();
      const nameLength = cd.u16(), extraLength = cd.u16(), commentLength = cd.u16();
      cd.pos += 8; // disk, attributes
      let localOffset = cd.u32();
      const name = new TextDecoder("utf-8", { fatal: false }).decode(cd.take(nameLength, "an entry name"));
      const extra = new Cursor(cd.take(extraLength, "an extra field"), 0, fail);
      cd.take(commentLength, "an entry comment");
      while (extra.pos + 4 <= extra.bytes.length) {
        const id = extra.u16(), len = extra.u16();
        const fieldEnd = extra.pos + len;
        if (id === 0x0001) {
          if (size === 0xffffffff) size = extra.u64();
          if (compressed === 0xffffffff) compressed = extra.u64();
          if (localOffset === 0xffffffff) localOffset = extra.u64();
        }
        extra.pos = fieldEnd;
      }
      if (flags & 1) fail(`entry ${name} is encrypted`);
      if (method !== 0) fail(`entry ${name} is compressed (method ${method}); torch.save stores entries uncompressed — re-save the file with torch.save`);
      if (compressed !== size) fail(`entry ${name} has different stored (${compressed}) and real (${size}) sizes`);
      if (entries.has(name)) fail(`entry ${name} appears twice`);
      if (localOffset + 30 > fileSize) fail(`entry ${name}'s header lies outside the file`);
      const local = new Cursor(this.readAt(localOffset, 30), 0, fail);
      if (local.u32() !== LOCAL) fail(`entry ${name}'s local header has a wrong signature`);
      local.pos = 26;
      const localName = local.u16(), localExtra = local.u16();
      const dataOffset = localOffset + 30 + localName + localExtra;
      if (dataOffset + size > fileSize) fail(`entry ${name} runs past the end of the file; the file is truncated`);
      const storedName = new TextDecoder().decode(this.readAt(localOffset + 30, localName));
      if (storedName !== name) fail(`entry ${name}'s local header names "${storedName.slice(0, 80)}"`);
      entries.set(name, { name, dataOffset, size, crc32: crc });
    }
    return entries;
  }

  private readEntry(entry: ZipEntry): Uint8Array {
    const bytes = this.readAt(entry.dataOffset, entry.size);
    if (crc32(bytes) !== entry.crc32) this.fail(`entry ${entry.name} fails its CRC-32 check; the file is corrupt`);
    return bytes;
  }

  /** The archive's records (name and size), in directory order. */
  records(): { name: string; size: number }[] {
    return [...this.entries.values()].map((e) => ({ name: e.name, size: e.size }));
  }

  /** One record's bytes, CRC-checked. */
  readRecord(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`has no record ${name}`);
    return this.readEntry(entry);
  }

  /** The storage bytes behind a tensor reference, in the machine's (little-endian) order. */
  private storageBytes(ref: TorchTensorRef, what: string): Uint8Array {
    const entry = this.entries.get(`${this.prefix}data/${ref.storage.key}`);
    if (!entry) this.fail(`${what}'s storage "${ref.storage.key}" has no record data/${ref.storage.key} in the archive`);
    const width = STORAGE_BYTES[ref.storage.dtype];
    if (entry.size !== ref.storage.numel * width) this.fail(`${what}'s storage holds ${entry.size} bytes but its header says ${ref.storage.numel} elements of ${width} bytes`);
    const bytes = this.readEntry(entry);
    if (this.bigEndian && width > 1) for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
    return bytes;
  }

  /** Gather a (possibly strided) view into row-major order, in the storage's element type. */
  private gather(ref: TorchTensorRef, what: string): ArrayLike<number> | BigInt64Array {
    const bytes = this.storageBytes(ref, what);
    const all = typedView(bytes, ref.storage.dtype);
    const n = ref.shape.reduce((a, b) => a * b, 1);
    const contiguous = isContiguous(ref.shape, ref.stride);
    if (contiguous) return all.subarray(ref.offset, ref.offset + n);
    const out = new (all.constructor as new (n: number) => typeof all)(n);
    const index = new Array<number>(ref.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let src = ref.offset;
      for (let d = 0; d < index.length; d++) src += index[d]! * ref.stride[d]!;
      (out as unknown as number[])[i] = (all as unknown as number[])[src]!;
      for (let d = index.length - 1; d >= 0; d--) {
        if (++index[d]! < ref.shape[d]!) break;
        index[d] = 0;
      }
    }
    return out;
  }

  /** The tensor a reference of the unpickled object points at (read when asked for). */
  tensor(name: string, ref: TorchTensorRef): TorchTensor {
    return {
      name,
      dtype: ref.storage.dtype,
      shape: ref.shape.slice(),
      readFloat32: () => {
        const v = this.gather(ref, name);
        if (ref.storage.dtype === "F16") return decodeF16(v as Uint16Array);
        if (ref.storage.dtype === "BF16") return decodeBf16(v as Uint16Array);
        if (v instanceof BigInt64Array) return Float32Array.from(v, (x) => Number(x));
        return Float32Array.from(v as ArrayLike<number>);
      },
      readIntegers: () => {
        if (!["I64", "I32", "I16", "I8", "U8", "BOOL"].includes(ref.storage.dtype)) this.fail(`${name} has dtype ${ref.storage.dtype}, expected an integer tensor`);
        const v = this.gather(ref, name);
        if (v instanceof BigInt64Array) {
          return Array.from(v, (x) => {
            if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < -BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${name} holds ${x}, beyond what sae-seeds reads exactly`);
            return Number(x);
          });
        }
        return Array.from(v as ArrayLike<number>);
      },
    };
  }

  /** Close the file (tensors read after this fail). */
  close(): void {
    closeSync(this.fd);
  }
}

function typedView(bytes: Uint8Array, dtype: StorageDType) {
  const b = bytes.buffer, o = bytes.byteOffset, n = bytes.byteLength;
  switch (dtype) {
    case "F64": return new Float64Array(b, o, n / 8);
    case "F32": return new Float32Array(b, o, n / 4);
    case "F16": case "BF16": return new Uint16Array(b, o, n / 2);
    case "I64": return new BigInt64Array(b, o, n / 8);
    case "I32": return new Int32Array(b, o, n / 4);
    case "I16": return new Int16Array(b, o, n / 2);
    case "I8": return new Int8Array(b, o, n);
    case "U8": case "BOOL": return new Uint8Array(b, o, n);
  }
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

/** A state dict's tensors, by name, from an open checkpoint. */
export interface TorchStateDict {
  tensors: Map<string, TorchTensor>;
  /** Close the checkpoint (its tensors cannot be read after this). */
  close(): void;
}

/** Open a torch.save checkpoint; the pickle is interpreted at once, tensors are read when asked for. */
export function openTorchCheckpoint(path: string): TorchCheckpoint {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new TorchFileError(`${path}: cannot open (${(e as Error).message})`);
  }
  try {
    return new TorchCheckpoint(fd, path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * A checkpoint that is a state dict (name → tensor), as its tensors. Anything else at the top level is refused,
 * naming what it is; `describeOther` lets a caller say what a known non-state-dict layout is (e.g. a training
 * backup) before the generic refusal.
 */
export function readTorchStateDict(path: string, describeOther?: (root: PickleValue) => string | null): TorchStateDict {
  const ckpt: TorchCheckpoint = openTorchCheckpoint(path);
  try {
    const root = ckpt.root;
    const special = describeOther?.(root);
    if (special) ckpt.fail(special);
    if (!(root instanceof PickleDict)) ckpt.fail(`holds ${describePickleValue(root)}, not a state dict (a dict of tensors)`);
    const tensors = new Map<string, TorchTensor>();
    for (const [key, value] of root.entries) {
      if (typeof key !== "string") ckpt.fail(`has the key ${describePickleValue(key)}; a state dict's keys are tensor names`);
      if (!(value instanceof TorchTensorRef)) ckpt.fail(`entry "${key}" is ${describePickleValue(value)}, not a tensor; a state dict holds tensors only`);
      tensors.set(key, ckpt.tensor(key, value));
    }
    return { tensors, close: () => ckpt.close() };
  } catch (e) {
    ckpt.close();
    throw e;
  }
}
