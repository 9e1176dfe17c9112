import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSafetensors, serializeSafetensors, writeSafetensors, openSafetensors, SafetensorsError, type DType, type WritableTensor } from "../src/gpt2/safetensors.ts";

function fileWithHeader(header: unknown, data: Uint8Array = new Uint8Array(0), rawHeader?: string): Uint8Array {
  const text = rawHeader ?? JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const DTYPES: DType[] = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"];

const tensorArb = fc.record({
  dtype: fc.constantFrom(...DTYPES),
  shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  seed: fc.nat(),
});

function makeTensor({ dtype, shape, seed }: { dtype: DType; shape: number[]; seed: number }): WritableTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => ((seed + i * 7919) % 200) - 100);
  if (dtype === "U8" || dtype === "BOOL") return { dtype, shape, data: values.map((v) => Math.abs(v) % (dtype === "BOOL" ? 2 : 256)) };
  if (dtype === "I8") return { dtype, shape, data: values };
  return { dtype, shape, data: dtype.startsWith("F") || dtype === "BF16" ? values.map((v) => v / 8) : values };
}

describe("safetensors writer and reader", () => {
  it("writes a tensor named __proto__ (found by the round-trip fuzzer) like any other name", () => {
    const tensors = Object.fromEntries([["__proto__", makeTensor({ dtype: "F64", shape: [], seed: 0 })], ["b", makeTensor({ dtype: "F32", shape: [2], seed: 1 })]]);
    const file = parseSafetensors(serializeSafetensors(tensors));
    expect(file.names()).toEqual(["__proto__", "b"]);
    expect(Array.from(file.readFloat32("__proto__"))).toEqual([-12.5]);
  });

  it("round-trips: write → read → write gives identical bytes and identical values", () => {
    fc.assert(fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== "__metadata__"), tensorArb, { maxKeys: 6 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), (specs, metadata) => {
      const tensors = Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, makeTensor(v)]));
      const bytes = serializeSafetensors(tensors, metadata);
      const file = parseSafetensors(bytes);
      expect(file.names()).toEqual(Object.keys(tensors).sort());
      const again = Object.create(null) as Record<string, WritableTensor>; // names like "__proto__" are ordinary keys
      for (const name of file.names()) {
        const t = file.readTensor(name);
        again[name] = t;
        const expected = tensors[name]!;
        expect(t.shape).toEqual(expected.shape);
        if (t.dtype === "F32" || t.dtype === "F64" || t.dtype === "F16" || t.dtype === "BF16") {
          expect(Array.from(file.readFloat32(name))).toEqual(Array.from(expected.data as number[], (v) => Number(v)));
        }
      }
      const meta = file.metadata();
      expect(serializeSafetensors(again, Object.keys(meta).length ? meta : undefined)).toEqual(bytes);
    }), { numRuns: 200 });
  });

  it("writes atomically and reads lazily from disk", () => {
    const dir = mkdtempSync(join(tmpdir(), "st-"));
    const path = join(dir, "a.safetensors");
    writeSafetensors(path, { b: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }, a: { dtype: "F16", shape: [3], data: new Float32Array([0.5, -2, 65504]) } }, { note: "hi" });
    expect(readdirSync(dir)).toEqual(["a.safetensors"]);
    const f = openSafetensors(path);
    expect(f.names()).toEqual(["a", "b"]);
    expect(Array.from(f.readFloat32("a"))).toEqual([0.5, -2, 65504]);
    expect(Array.from(f.readFloat32("b"))).toEqual([1, 2, 3, 4]);
    expect(f.metadata()).toEqual({ note: "hi" });
    expect(() => f.readFloat32("zzz")).toThrow(/no tensor "zzz"/);
    f.close();
    // header length is padded to a multiple of 8
    const bytes = readFileSync(path);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) % 8).toBe(0);
  });
});

describe("safetensors strictness: each rule rejects a hand-crafted bad file", () => {
  const f32 = (n: number) => new Uint8Array(4 * n);
  const cases: [string, Uint8Array, RegExp][] = [
    ["too short", new Uint8Array(5), /too short/],
    ["header length past end", (() => { const b = fileWithHeader({}); new DataView(b.buffer).setUint32(0, 1000, true); return b; })(), /runs past the end/],
    ["header length over 100 MB", (() => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(4, 1, true); return b; })(), /exceeds the 104857600-byte limit/],
    ["not JSON", fileWithHeader(null, undefined, "{nope"), /not valid JSON/],
    ["not an object", fileWithHeader([1, 2]), /must be a JSON object/],
    ["invalid UTF-8", (() => { const b = fileWithHeader(null, undefined, "{}  "); b[9] = 0xff; return b; })(), /not valid UTF-8/],
    ["duplicate keys", fileWithHeader(null, f32(2), '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'), /key "a" twice/],
    ["unknown dtype", fileWithHeader({ a: { dtype: "Q4", shape: [1], data_offsets: [0, 4] } }, f32(1)), /unknown dtype "Q4"/],
    ["negative shape", fileWithHeader({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1)), /shape must be/],
    ["fractional offsets", fileWithHeader({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4.5] } }, f32(1)), /data_offsets must be/],
    ["offsets backwards", fileWithHeader({ a: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, f32(1)), /run backwards/],
    ["offsets outside data", fileWithHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, f32(1)), /beyond the data section/],
    ["size mismatch", fileWithHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, f32(1)), /does not equal product of shape/],
    ["lying huge shape", fileWithHeader({ a: { dtype: "F32", shape: [1e15, 1e15], data_offsets: [0, 4] } }, f32(1)), /does not equal product of shape/],
    ["overlap", fileWithHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2)), /overlaps/],
    ["gap", fileWithHeader({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, f32(2)), /leaves a gap/],
    ["trailing bytes", fileWithHeader({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(2)), /trailing bytes/],
    ["unknown field", fileWithHeader({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4], extra: 1 } }, f32(1)), /unknown field/],
    ["metadata not strings", fileWithHeader({ __metadata__: { a: 1 } }), /must be a string/],
  ];
  it.each(cases)("%s", (_name, bytes, message) => {
    let error: unknown;
    try {
      parseSafetensors(bytes, "bad.safetensors");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SafetensorsError);
    expect(String((error as Error).message)).toMatch(/^bad\.safetensors/);
    expect(String((error as Error).message)).toMatch(message);
  });

  it("keys like __proto__ and constructor are ordinary tensor names, polluting nothing", () => {
    const bytes = serializeSafetensors({ __proto__: { dtype: "F32", shape: [1], data: [1] }, constructor: { dtype: "F32", shape: [1], data: [2] } } as unknown as Record<string, WritableTensor>);
    const f = parseSafetensors(bytes);
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
    expect(f.readFloat32("constructor")[0]).toBe(2);
  });

  it("on disk: a missing file and a truncated file give SafetensorsError", () => {
    const dir = mkdtempSync(join(tmpdir(), "st-"));
    expect(() => openSafetensors(join(dir, "none.safetensors"))).toThrow(SafetensorsError);
    const good = serializeSafetensors({ a: { dtype: "F32", shape: [100], data: new Float32Array(100) } });
    writeFileSync(join(dir, "t.safetensors"), good.subarray(0, good.length - 10));
    expect(() => openSafetensors(join(dir, "t.safetensors"))).toThrow(/trailing|beyond/);
  });
});

describe("safetensors fuzzing", () => {
  const valid = serializeSafetensors({
    w: { dtype: "F32", shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    h: { dtype: "F16", shape: [2], data: new Float32Array([1, -1]) },
    i: { dtype: "I64", shape: [1], data: [7] },
  }, { k: "v" });

  const readAll = (bytes: Uint8Array) => {
    try {
      const f = parseSafetensors(bytes);
      for (const n of f.names()) f.readTensor(n);
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw e;
    }
  };

  it("byte flips, truncations, header-length edits and JSON edits only ever give SafetensorsError or a valid result", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(valid.length), (flips, cut) => {
      const b = valid.slice();
      for (const [pos, v] of flips) b[pos] = v;
      readAll(b);
      readAll(valid.subarray(0, cut));
    }), { numRuns: 2000 });
    const headerText = new TextDecoder().decode(valid.subarray(8, 8 + new DataView(valid.buffer).getUint32(0, true)));
    fc.assert(fc.property(fc.nat(headerText.length), fc.nat(headerText.length), fc.string({ maxLength: 8 }), fc.nat(2 ** 32 - 1), (a, b, insert, len) => {
      const edited = headerText.slice(0, Math.min(a, b)) + insert + headerText.slice(Math.max(a, b));
      const data = valid.subarray(8 + headerText.length);
      readAll(fileWithHeader(null, data, edited));
      const withLen = valid.slice();
      new DataView(withLen.buffer).setUint32(0, len, true);
      readAll(withLen);
    }), { numRuns: 2000 });
  });
});
