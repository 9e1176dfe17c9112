/**
 * The code-free PyTorch checkpoint reader (src/gpt2/torch_zip.ts, torch_pickle.ts): files torch.save wrote
 * (tools/reference/torch_checkpoints.py) read to the values torch holds — every dtype, strided and shared
 * storages, parameters, _metadata — and every malformed or hostile input refused in one line, without running
 * anything: property tests (fast-check) over mutated files, random opcode streams, huge lengths, truncations and
 * deep nesting.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTorchCheckpoint, readTorchStateDict, TorchFileError, crc32 } from "../src/gpt2/torch_zip.ts";
import { interpretPickle, PickleDict, PickleError, TorchTensorRef } from "../src/gpt2/torch_pickle.ts";
import { checkCheckpoint, checkPickleMutation, checkPickleStream, checkpointCase, pickleMutationCase, pickleStreamCase } from "./properties/untrusted_files.ts";

const FIX = join(import.meta.dirname, "fixtures", "torch_checkpoints");
const expected = JSON.parse(readFileSync(join(FIX, "expected.json"), "utf8")) as Record<string, { dtype: string; shape: number[]; values: (number | boolean)[] }>;
const tmp = mkdtempSync(join(tmpdir(), "torch-ckpt-"));

describe("reading torch.save checkpoints", () => {
  it("every tensor of a state dict reads to the values torch holds", () => {
    const sd = readTorchStateDict(join(FIX, "state_dict.pt"));
    try {
      expect([...sd.tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
      for (const [name, want] of Object.entries(expected)) {
        const t = sd.tensors.get(name)!;
        expect(t.dtype, name).toBe(want.dtype);
        expect(t.shape, name).toEqual(want.shape);
        if (want.dtype.startsWith("I") || want.dtype === "BOOL") expect(t.readIntegers(), name).toEqual(want.values.map(Number));
        else expect(Array.from(t.readFloat32()), name).toEqual(want.values.map((v) => Math.fround(v as number)));
      }
    } finally {
      sd.close();
    }
  });

  it("plain dicts (dictionary_learning's ae.pt) read too; _metadata is kept as the OrderedDict's attributes", () => {
    const sd = readTorchStateDict(join(FIX, "plain_dict.pt"));
    expect(sd.tensors.get("encoder.weight")!.shape).toEqual([4, 3]);
    sd.close();
    const ck = openTorchCheckpoint(join(FIX, "state_dict.pt"));
    expect(ck.root).toBeInstanceOf(PickleDict);
    expect((ck.root as PickleDict).attributes?.entries.has("_metadata")).toBe(true);
    ck.close();
  });

  it("a big-endian checkpoint reads to the same values", () => {
    // state_dict.pt as a big-endian machine writes it: every element byte-swapped, a byteorder record "big".
    const ck = openTorchCheckpoint(join(FIX, "state_dict.pt"));
    const width = new Map<string, number>();
    for (const v of (ck.root as PickleDict).entries.values()) if (v instanceof TorchTensorRef) width.set(v.storage.key, { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }[v.storage.dtype]);
    const records: [string, Uint8Array][] = ck.records().map(({ name }) => {
      const bytes = ck.readRecord(name).slice();
      const w = width.get(/\/data\/(.+)$/.exec(name)?.[1] ?? "") ?? 1;
      for (let i = 0; i < bytes.length; i += w) bytes.subarray(i, i + w).reverse();
      return [name, bytes];
    });
    ck.close();
    const prefix = records[0]![0].slice(0, -"data.pkl".length);
    records.push([`${prefix}byteorder`, new TextEncoder().encode("big")]);
    const path = join(tmp, "big.pt");
    writeFileSync(path, storedZip(records));
    const sd = readTorchStateDict(path);
    for (const [name, want] of Object.entries(expected)) {
      const t = sd.tensors.get(name)!;
      if (want.dtype.startsWith("I") || want.dtype === "BOOL") expect(t.readIntegers(), name).toEqual(want.values.map(Number));
      else expect(Array.from(t.readFloat32()), name).toEqual(want.values.map((v) => Math.fround(v as number)));
    }
    sd.close();
  });

  it("a checkpoint holding a hostile pickle inside a valid zip is refused the same way", () => {
    const path = join(tmp, "hostile-zip.pt");
    writeFileSync(path, storedZip([["archive/data.pkl", cat(op(0x80, 2), globalOp("subprocess", "check_output"), op(0x2e))], ["archive/version", new TextEncoder().encode("3\n")]]));
    expect(() => openTorchCheckpoint(path)).toThrow(/data\.pkl: at byte 2: the pickle imports subprocess\.check_output/);
    const compressed = storedZip([["archive/data.pkl", op(0x4e, 0x2e)]], 8);
    writeFileSync(path, compressed);
    expect(() => openTorchCheckpoint(path)).toThrow(/is compressed \(method 8\)/);
  });

  it("refuses a hostile pickle (os.system) naming the global, before running anything", () => {
    expect(() => openTorchCheckpoint(join(FIX, "hostile.pt"))).toThrow(/imports posix\.system, which sae-seeds does not allow/);
    expect(() => openTorchCheckpoint(join(FIX, "hostile.pt"))).toThrow(TorchFileError);
  });

  it("refuses the legacy format, a training backup's layout as a state dict, and non-zip files, each in one line", () => {
    expect(() => openTorchCheckpoint(join(FIX, "legacy.pt"))).toThrow(/legacy \(pre-1\.6\) format/);
    expect(() => readTorchStateDict(join(FIX, "backup.pt"))).toThrow(/entry "step" is the number 12, not a tensor/);
    const junk = join(tmp, "junk.pt");
    writeFileSync(junk, "hello, this is not a checkpoint at all");
    expect(() => openTorchCheckpoint(junk)).toThrow(/is not a zip archive/);
    expect(() => openTorchCheckpoint(join(tmp, "missing.pt"))).toThrow(/cannot open/);
  });

  it("refuses a truncated file and a corrupted tensor (CRC-32)", () => {
    const bytes = new Uint8Array(readFileSync(join(FIX, "state_dict.pt")));
    const cut = join(tmp, "cut.pt");
    writeFileSync(cut, bytes.subarray(0, bytes.length - 200));
    expect(() => openTorchCheckpoint(cut)).toThrow(TorchFileError);
    const ck = openTorchCheckpoint(join(FIX, "state_dict.pt"));
    const entries = (ck as unknown as { entries: Map<string, { name: string; dataOffset: number }> }).entries;
    ck.close();
    const weight = [...entries.values()].find((e) => e.name.endsWith("/data/0"))!;
    const bad = bytes.slice();
    bad[weight.dataOffset] ^= 0xff;
    const path = join(tmp, "crc.pt");
    writeFileSync(path, bad);
    const sd = readTorchStateDict(path);
    const first = [...sd.tensors.values()].find((t) => {
      try {
        t.readFloat32();
        return false;
      } catch (e) {
        expect((e as Error).message).toMatch(/fails its CRC-32 check/);
        return true;
      }
    });
    expect(first).toBeDefined();
    sd.close();
  });
});

/** Pickle building blocks for the hostile cases. */
const op = (...b: number[]) => Uint8Array.from(b);
const str = (s: string) => {
  const t = new TextEncoder().encode(s);
  return Uint8Array.from([0x58, t.length & 0xff, (t.length >> 8) & 0xff, 0, 0, ...t]);
};
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
};
const globalOp = (module: string, name: string) => cat(op(0x63), new TextEncoder().encode(`${module}\n${name}\n`));

/** A zip archive of stored records, as torch.save lays it out (local headers, central directory, end record). */
function storedZip(records: [string, Uint8Array][], method = 0): Uint8Array {
  const parts: Uint8Array[] = [], central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of records) {
    const n = new TextEncoder().encode(name), crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(8, method, true); local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true); local.setUint32(22, data.length, true); local.setUint16(26, n.length, true);
    const c = new DataView(new ArrayBuffer(46));
    c.setUint32(0, 0x02014b50, true); c.setUint16(10, method, true); c.setUint32(16, crc, true); c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true); c.setUint16(28, n.length, true); c.setUint32(42, offset, true);
    parts.push(new Uint8Array(local.buffer), n, data);
    central.push(new Uint8Array(c.buffer), n);
    offset += 30 + n.length + data.length;
  }
  const cd = cat(...central);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); end.setUint16(8, records.length, true); end.setUint16(10, records.length, true);
  end.setUint32(12, cd.length, true); end.setUint32(16, offset, true);
  return cat(...parts, cd, new Uint8Array(end.buffer));
}

describe("hostile and malformed pickles are refused in one line, never run", () => {
  const refuse = (bytes: Uint8Array, message: RegExp) => {
    expect(() => interpretPickle(bytes)).toThrow(PickleError);
    expect(() => interpretPickle(bytes)).toThrow(message);
  };

  it("globals outside the allowlist, calls of storage types, and object-building opcodes", () => {
    refuse(cat(op(0x80, 2), globalOp("os", "system"), str("echo hi"), op(0x85, 0x52, 0x2e)), /imports os\.system/);
    refuse(cat(op(0x80, 4), str("builtins"), str("eval"), op(0x93)), /imports builtins\.eval/);
    refuse(cat(op(0x80, 2), globalOp("torch", "FloatStorage"), op(0x29, 0x52, 0x2e)), /only names a storage type and cannot be called/);
    refuse(cat(op(0x80, 2), globalOp("collections", "OrderedDict"), op(0x29, 0x81, 0x2e)), /NEWOBJ \(0x81\) is not allowed/);
    refuse(cat(op(0x28), op(0x69), new TextEncoder().encode("os\nsystem\n"), op(0x2e)), /INST \(0x69\) is not allowed/);
    refuse(op(0x82, 1, 0x2e), /EXT1 \(0x82\) is not allowed/);
    refuse(cat(op(0x80, 2), str("x"), op(0x85, 0x51, 0x2e)), /persistent id is a tuple of 1/);
    refuse(cat(op(0x80, 2), op(0x5d), op(0x7d), op(0x62, 0x2e)), /only an OrderedDict's attributes are allowed/);
  });

  it("huge lengths, truncation, oversized integers and deep nesting", () => {
    refuse(op(0x80, 4, 0x8d, 0, 0, 0, 0, 0, 0, 0x10, 0), /beyond this file|needs/);
    refuse(op(0x58, 0xff, 0xff, 0xff, 0x7f, 0x61), /needs 2147483647 bytes but only 1 remain/);
    refuse(op(0x80, 2, 0x5d), /ends without STOP/);
    refuse(op(0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x2e), /beyond 2\^53/);
    refuse(op(0x68, 7, 0x2e), /memo entry 7 is read before it is written/);
    // 200 000 nested lists: the interpreter is iterative (no recursion to overflow) and the result is never walked.
    const depth = 200_000;
    const deep = new Uint8Array(depth * 2 + 2);
    for (let i = 0; i < depth; i++) deep[i] = 0x5d;
    for (let i = 0; i < depth - 1; i++) deep[depth + i] = 0x61;
    deep[2 * depth - 1] = 0x2e;
    expect(Array.isArray(interpretPickle(deep.subarray(0, 2 * depth)))).toBe(true);
    // A list appended to itself through the memo: a cycle, built without looping.
    const cyc = interpretPickle(op(0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e)) as unknown[];
    expect(cyc[0]).toBe(cyc);
  });

  it("a tensor view larger than its storage is refused before any allocation", () => {
    const storage = cat(op(0x28), str("storage"), globalOp("torch", "FloatStorage"), str("0"), str("cpu"), op(0x4b, 1, 0x74, 0x51));
    const rebuild = (size: number, stride: number) => cat(op(0x80, 2), globalOp("torch._utils", "_rebuild_tensor_v2"), op(0x28), storage, op(0x4b, 0),
      op(0x4a, size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, (size >>> 24) & 0xff, 0x85), op(0x4b, stride, 0x85), op(0x89), globalOp("collections", "OrderedDict"), op(0x29, 0x52, 0x74, 0x52, 0x2e));
    expect(interpretPickle(rebuild(1, 1))).toBeInstanceOf(TorchTensorRef);
    refuse(rebuild(1_000_000_000, 0), /does not fit its storage of 1 elements/);
    refuse(rebuild(2, 1), /does not fit its storage/);
  });

  it("property: mutated state-dict pickles give a value or a PickleError, nothing else", () => {
    fc.assert(fc.property(pickleMutationCase, checkPickleMutation), { numRuns: 400, seed: 19 });
  });

  it("property: random opcode streams (dangerous opcodes and globals among them) never get past a refusal", () => {
    fc.assert(fc.property(pickleStreamCase, checkPickleStream), { numRuns: 600, seed: 20 });
  });

  it("property: mutated or truncated checkpoint files are refused with a TorchFileError or read consistently", () => {
    fc.assert(fc.property(checkpointCase, checkCheckpoint), { numRuns: 300, seed: 21 });
  });
});
