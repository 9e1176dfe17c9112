/**
 * A pickle interpreter that builds data and never runs code: the `data.pkl` of a PyTorch checkpoint
 * (./torch_zip.ts) read as what a state dict is — dicts, lists, tuples, strings, numbers and tensors.
 *
 * Python's unpickler calls whatever a pickle names (GLOBAL os.system + REDUCE runs a shell). This one knows a
 * fixed set of names and builds a plain value for each; it calls nothing. Accepted:
 *   - the data opcodes of protocols 0–5 that a state dict uses (MARK/TUPLE*, EMPTY_LIST/APPEND(S)/LIST,
 *     EMPTY_DICT/SETITEM(S)/DICT, the memo, strings, ints, floats, booleans, None, PROTO, FRAME, POP, DUP, STOP);
 *   - GLOBAL / STACK_GLOBAL for exactly: collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 *     torch._utils._rebuild_parameter and the typed storages torch.<Float|Double|Half|BFloat16|Long|Int|Short|
 *     Char|Byte|Bool>Storage;
 *   - REDUCE of those callables only, with the argument shapes torch writes (OrderedDict(); a tensor rebuilt
 *     from a storage, offset, size, stride, requires_grad and empty hooks/metadata; a parameter wrapping one);
 *   - BUILD only to give an OrderedDict its attribute dict (state dicts carry `_metadata` that way);
 *   - BINPERSID only for torch's storage ids ('storage', <storage type>, key, location, numel).
 * Anything else — any other global, INST/OBJ/NEWOBJ, extension codes, text persistent ids, a REDUCE of a storage
 * type — is refused with one line naming the opcode or the global, before anything further is read.
 *
 * Resources are bounded by the input: every opcode consumes at least one byte, every length is checked against
 * the bytes that remain before anything is allocated, integers beyond 2^53 are refused, the stack and the memo
 * hold at most one entry per input byte, and no value is traversed recursively (so self-referencing lists from
 * the memo cannot loop anything). A tensor's shape must fit inside its storage (no broadcast views bigger than the
 * data), so reading it allocates no more than the file holds.
 */
export class PickleError extends Error {
  override name = "PickleError";
}

/** The element types of torch storages, by their safetensors names. */
export type StorageDType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

const STORAGE_TYPES: Record<string, StorageDType> = {
  FloatStorage: "F32", DoubleStorage: "F64", HalfStorage: "F16", BFloat16Storage: "BF16", LongStorage: "I64",
  IntStorage: "I32", ShortStorage: "I16", CharStorage: "I8", ByteStorage: "U8", BoolStorage: "BOOL",
};

/** A name the pickle imported (only the allowed ones ever become one). */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python tuple. */
export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** The dict keys a state dict pickle may use. */
export type PickleKey = string | number | boolean | null;

/** A dict or OrderedDict (insertion order kept), with the attributes BUILD gave it. */
export class PickleDict {
  readonly entries = new Map<PickleKey, PickleValue>();
  attributes: PickleDict | null = null;
  constructor(readonly ordered: boolean) {}
}

/** A storage named by a persistent id: its element type, its record key in the archive, its device and size. */
export class StorageRef {
  constructor(readonly dtype: StorageDType, readonly key: string, readonly location: string, readonly numel: number) {}
}

/** A tensor: a view (offset, shape, stride in elements) of a storage. */
export class TorchTensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[], readonly requiresGrad: boolean) {}
}

/** Every value the interpreter builds. */
export type PickleValue = null | boolean | number | string | PickleValue[] | PickleTuple | PickleDict | PickleGlobal | StorageRef | TorchTensorRef;

/** A short description of a value for error messages (never recursive). */
export function describePickleValue(v: PickleValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "None";
  if (typeof v === "boolean" || typeof v === "number") return `the ${typeof v === "number" ? "number" : "boolean"} ${v}`;
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof PickleTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PickleDict) return `a ${v.ordered ? "OrderedDict" : "dict"} of ${v.entries.size} entries`;
  if (v instanceof PickleGlobal) return v.qualified;
  if (v instanceof StorageRef) return `a ${v.dtype} storage`;
  return `a ${v.storage.dtype} tensor [${v.shape.join(", ")}]`;
}

const MARK = Symbol("mark");
type StackItem = PickleValue | typeof MARK;

const OPCODE_NAMES: Record<number, string> = {
  0x28: "MARK", 0x2e: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4a: "BININT",
  0x4b: "BININT1", 0x4c: "LONG", 0x4d: "BININT2", 0x4e: "NONE", 0x50: "PERSID", 0x51: "BINPERSID", 0x52: "REDUCE",
  0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING", 0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND",
  0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT", 0x7d: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET",
  0x69: "INST", 0x6a: "LONG_BINGET", 0x6c: "LIST", 0x5d: "EMPTY_LIST", 0x6f: "OBJ", 0x70: "PUT", 0x71: "BINPUT",
  0x72: "LONG_BINPUT", 0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
  0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
  0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4", 0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 0x8e: "BINBYTES8", 0x8f: "EMPTY_SET",
  0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
  0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
};

function opcodeName(op: number): string {
  return `${OPCODE_NAMES[op] ?? "unknown opcode"} (0x${op.toString(16).padStart(2, "0")})`;
}

function isAllowedGlobal(module: string, name: string): boolean {
  if (module === "collections" && name === "OrderedDict") return true;
  if (module === "torch._utils" && (name === "_rebuild_tensor_v2" || name === "_rebuild_parameter")) return true;
  return module === "torch" && name in STORAGE_TYPES;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Interpret a pickle (bytes) as data, or throw a PickleError naming what is not allowed or malformed. */
export function interpretPickle(bytes: Uint8Array): PickleValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let at = 0; // offset of the opcode being interpreted, for messages
  const fail = (problem: string): never => {
    throw new PickleError(`at byte ${at}: ${problem}`);
  };
  const need = (n: number, what: string) => {
    if (!(n >= 0) || pos + n > bytes.length) fail(`${what} needs ${n} bytes but only ${bytes.length - pos} remain (truncated or corrupt pickle)`);
  };
  const u8 = () => (need(1, "an argument"), bytes[pos++]!);
  const u16 = () => (need(2, "an argument"), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4, "an argument"), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4, "an argument"), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = (what: string) => {
    need(8, what);
    const lo = view.getUint32(pos, true), hi = view.getUint32(pos + 4, true);
    pos += 8;
    if (hi >= 0x200000) fail(`${what} of ${hi * 2 ** 32 + lo} bytes is beyond this file`);
    return hi * 0x100000000 + lo;
  };
  const text = (n: number, what: string): string => {
    need(n, what);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    try {
      return UTF8.decode(b);
    } catch {
      return fail(`${what} is not valid UTF-8`);
    }
  };
  const line = (what: string): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`${what} is not terminated by a newline (truncated pickle)`);
    const s = text(end - pos, what);
    pos = end + 1;
    return s;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined) fail("the stack is empty (malformed pickle)");
    if (v === MARK) fail("a MARK was found where a value was expected (malformed pickle)");
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail("no value on the stack (malformed pickle)");
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail("no MARK to pop to (malformed pickle)");
    const items = stack.splice(i) as PickleValue[];
    items.shift();
    return items;
  };
  const key = (v: PickleValue): PickleKey => {
    if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
    return fail(`a dict key is ${describePickleValue(v)}; state dicts use strings and numbers as keys`);
  };
  const setItems = (dict: PickleValue, items: PickleValue[]) => {
    if (!(dict instanceof PickleDict)) fail(`SETITEM(S) on ${describePickleValue(dict)}, not a dict`);
    if (items.length % 2 !== 0) fail("SETITEMS with an odd number of items (malformed pickle)");
    for (let i = 0; i < items.length; i += 2) (dict as PickleDict).entries.set(key(items[i]!), items[i + 1]!);
  };
  const appendItems = (list: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(list)) fail(`APPEND(S) on ${describePickleValue(list)}, not a list`);
    for (const item of items) (list as PickleValue[]).push(item);
  };
  const global = (module: string, name: string): PickleGlobal => {
    if (!isAllowedGlobal(module, name)) fail(`the pickle imports ${module}.${name}, which sae-seeds does not allow (a state dict needs only tensors, OrderedDicts and storages); refusing to read it`);
    return new PickleGlobal(module, name);
  };
  const int = (v: PickleValue | undefined, what: string): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) fail(`${what} is ${describePickleValue(v)}, expected an integer`);
    return v as number;
  };
  const ints = (v: PickleValue | undefined, what: string): number[] => {
    if (!(v instanceof PickleTuple)) fail(`${what} is ${describePickleValue(v)}, expected a tuple of integers`);
    return (v as PickleTuple).items.map((x) => int(x, what));
  };
  const emptyMapping = (v: PickleValue | undefined, what: string) => {
    if (v === null) return;
    if (!(v instanceof PickleDict) || v.entries.size !== 0) fail(`${what} is ${describePickleValue(v)}; sae-seeds reads tensors without hooks or extra metadata only`);
  };
  const rebuildTensor = (args: PickleValue[]): TorchTensorRef => {
    if (args.length !== 6 && args.length !== 7) fail(`_rebuild_tensor_v2 has ${args.length} arguments, expected 6 or 7`);
    const storage = args[0];
    if (!(storage instanceof StorageRef)) fail(`_rebuild_tensor_v2's storage is ${describePickleValue(storage)}`);
    const s = storage as StorageRef;
    const offset = int(args[1], "a tensor's storage offset");
    const shape = ints(args[2], "a tensor's size");
    const stride = ints(args[3], "a tensor's stride");
    if (typeof args[4] !== "boolean") fail(`a tensor's requires_grad is ${describePickleValue(args[4])}`);
    emptyMapping(args[5], "a tensor's backward hooks");
    if (args.length === 7) emptyMapping(args[6], "a tensor's metadata");
    if (stride.length !== shape.length) fail(`a tensor has ${shape.length} sizes but ${stride.length} strides`);
    if (offset < 0 || shape.some((d) => d < 0) || stride.some((d) => d < 0)) fail("a tensor has a negative size, stride or offset");
    let elements = 1, last = offset;
    for (let d = 0; d < shape.length; d++) {
      elements *= shape[d]!;
      last += (shape[d]! - 1) * stride[d]!;
    }
    if (elements > 0 && (last >= s.numel || elements > s.numel)) fail(`a tensor of shape [${shape.join(", ")}] (offset ${offset}, stride [${stride.join(", ")}]) does not fit its storage of ${s.numel} elements`);
    return new TorchTensorRef(s, offset, shape, stride, args[4] as boolean);
  };
  const reduce = (callable: PickleValue, args: PickleValue): PickleValue => {
    if (!(callable instanceof PickleGlobal)) return fail(`REDUCE calls ${describePickleValue(callable)}; only the allowed globals may be called`);
    if (!(args instanceof PickleTuple)) return fail(`REDUCE's arguments are ${describePickleValue(args)}, not a tuple`);
    const a = args.items;
    switch (callable.qualified) {
      case "collections.OrderedDict": {
        if (a.length !== 0) fail("OrderedDict is called with arguments; torch writes OrderedDict() and fills it with SETITEMS");
        return new PickleDict(true);
      }
      case "torch._utils._rebuild_tensor_v2":
        return rebuildTensor(a);
      case "torch._utils._rebuild_parameter": {
        if (a.length !== 3) fail(`_rebuild_parameter has ${a.length} arguments, expected 3`);
        if (!(a[0] instanceof TorchTensorRef)) fail(`_rebuild_parameter wraps ${describePickleValue(a[0])}, not a tensor`);
        if (typeof a[1] !== "boolean") fail(`a parameter's requires_grad is ${describePickleValue(a[1])}`);
        emptyMapping(a[2], "a parameter's backward hooks");
        return a[0] as TorchTensorRef;
      }
      default:
        return fail(`REDUCE calls ${callable.qualified}, which only names a storage type and cannot be called`);
    }
  };
  const persistent = (pid: PickleValue): StorageRef => {
    if (!(pid instanceof PickleTuple) || pid.items.length !== 5 || pid.items[0] !== "storage") fail(`a persistent id is ${describePickleValue(pid)}, not torch's ('storage', type, key, location, numel)`);
    const [, type, storageKey, location, numel] = (pid as PickleTuple).items;
    if (!(type instanceof PickleGlobal) || type.module !== "torch" || !(type.name in STORAGE_TYPES)) fail(`a storage's type is ${describePickleValue(type)}`);
    if (typeof storageKey !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(storageKey)) fail(`a storage key is ${describePickleValue(storageKey)}`);
    if (typeof location !== "string") fail(`a storage location is ${describePickleValue(location)}`);
    const n = int(numel, "a storage's element count");
    if (n < 0) fail("a storage has a negative element count");
    return new StorageRef(STORAGE_TYPES[(type as PickleGlobal).name]!, storageKey as string, location as string, n);
  };

  for (;;) {
    at = pos;
    if (pos >= bytes.length) fail("the pickle ends without STOP (truncated)");
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) fail(`pickle protocol ${v} is newer than 5`);
        break;
      }
      case 0x95: u64("a FRAME"); break; // FRAME: a length hint, nothing to do
      case 0x28: stack.push(MARK); break;
      case 0x29: stack.push(new PickleTuple([])); break;
      case 0x74: stack.push(new PickleTuple(popMark())); break;
      case 0x85: stack.push(new PickleTuple([pop()])); break;
      case 0x86: { const b = pop(), a = pop(); stack.push(new PickleTuple([a, b])); break; }
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(new PickleTuple([a, b, c])); break; }
      case 0x5d: stack.push([]); break;
      case 0x6c: stack.push(popMark()); break;
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; }
      case 0x65: { const items = popMark(); appendItems(top(), items); break; }
      case 0x7d: stack.push(new PickleDict(false)); break;
      case 0x64: { const d = new PickleDict(false); setItems(d, popMark()); stack.push(d); break; }
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; }
      case 0x75: { const items = popMark(); setItems(top(), items); break; }
      case 0x71: memo.set(u8(), top()); break;
      case 0x72: memo.set(u32(), top()); break;
      case 0x94: memo.set(memo.size, top()); break;
      case 0x68: case 0x6a: {
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} is read before it is written (malformed pickle)`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x58: stack.push(text(u32(), "a string")); break;
      case 0x8c: stack.push(text(u8(), "a string")); break;
      case 0x8d: stack.push(text(u64("a string"), "a string")); break;
      case 0x4b: stack.push(u8()); break;
      case 0x4d: stack.push(u16()); break;
      case 0x4a: stack.push(i32()); break;
      case 0x8a: { // LONG1: little-endian two's complement of n bytes
        const n = u8();
        need(n, "an integer");
        if (n > 7) fail(`an integer of ${n} bytes is beyond 2^53`);
        let v = 0;
        for (let i = n - 1; i >= 0; i--) v = v * 256 + bytes[pos + i]!;
        if (n > 0 && bytes[pos + n - 1]! & 0x80) v -= 2 ** (8 * n);
        pos += n;
        if (!Number.isSafeInteger(v)) fail("an integer beyond 2^53");
        stack.push(v);
        break;
      }
      case 0x47: need(8, "a float"); stack.push(view.getFloat64(pos, false)); pos += 8; break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4e: stack.push(null); break;
      case 0x30: pop(); break;
      case 0x32: stack.push(top()); break;
      case 0x63: { const module = line("a GLOBAL's module"); const name = line("a GLOBAL's name"); stack.push(global(module, name)); break; }
      case 0x93: {
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("STACK_GLOBAL needs two strings");
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51: stack.push(persistent(pop())); break;
      case 0x52: { const args = pop(), callable = pop(); stack.push(reduce(callable, args)); break; }
      case 0x62: { // BUILD: only an OrderedDict's attribute dict (state dicts' _metadata)
        const state = pop(), target = top();
        if (!(target instanceof PickleDict) || !target.ordered || !(state instanceof PickleDict)) fail(`BUILD sets the state of ${describePickleValue(target)} from ${describePickleValue(state)}; only an OrderedDict's attributes are allowed`);
        (target as PickleDict).attributes = state as PickleDict;
        break;
      }
      case 0x2e: {
        const result = pop();
        if (stack.length !== 0) fail(`STOP with ${stack.length} more items on the stack (malformed pickle)`);
        if (pos !== bytes.length) fail(`${bytes.length - pos} bytes follow STOP`);
        return result;
      }
      default:
        return fail(`opcode ${opcodeName(op)} is not allowed (sae-seeds reads state dicts without running code); refusing to read it`);
    }
  }
}
