/**
 * Activations from any model: .npy files numpy wrote (every format version, byte order, memory order and float
 * type the reader takes; tools/reference/npy_files.py), safetensors with one tensor per hook, and folders of shards,
 * read in bounded pieces and imported into the activation cache — chunked, hashed, described, with held-out rows —
 * that `train` reads unchanged. Bad input is refused in one line.
 */
import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { openSafetensors } from "../src/gpt2/safetensors.ts";
import { openNpy, NpyError } from "../src/data/npy.ts";
import { checkNpy, npyCase } from "./properties/untrusted_files.ts";
import { openActivationSource } from "../src/data/activation_sources.ts";
import { importActivations, heldOutRows, isImported } from "../src/data/import_acts.ts";
import { loadActivationCache } from "../src/data/activation_cache.ts";

const FIX = join(import.meta.dirname, "fixtures", "npy");
const f = openSafetensors(join(FIX, "expected.safetensors"));
const A = f.readFloat32("A"), A16 = f.readFloat32("A_f16");
f.close();
const describeIt = { model: "EleutherAI/pythia-70m", hook: "gpt_neox.layers.3", tokens: "first 7 tokens of the Pile validation split" };

describe(".npy files", () => {
  it.each([
    ["v1_c_f4_le.npy", "1.0", A], ["v3_c_f4_be.npy", "3.0", A], ["v1_fortran_f4_le.npy", "1.0", A], ["v2_fortran_f2_be.npy", "2.0", A16],
    ["v1_c_f8_le.npy", "1.0", A], ["v1_3d_f4.npy", "1.0", A],
  ] as const)("%s (format %s) reads to numpy's values", (name, version, want) => {
    const npy = openNpy(join(FIX, name));
    expect(npy.header.version).toBe(version);
    expect([npy.rows, npy.d]).toEqual([7, 5]);
    expect(Array.from(npy.readRows(0, 7))).toEqual(Array.from(want));
    npy.close();
  });

  it("property: any row range reads the same as the whole array, in every layout", () => {
    const files = ["v1_c_f4_le.npy", "v3_c_f4_be.npy", "v1_fortran_f4_le.npy", "v2_fortran_f2_be.npy"];
    fc.assert(fc.property(fc.nat(files.length - 1), fc.nat(6), fc.nat(7), (i, start, len) => {
      const count = Math.min(len, 7 - start);
      const npy = openNpy(join(FIX, files[i]!));
      const want = (files[i]!.includes("f2") ? A16 : A).subarray(start * 5, (start + count) * 5);
      expect(Array.from(npy.readRows(start, count))).toEqual(Array.from(want));
      npy.close();
    }), { numRuns: 80, seed: 7 });
  });

  it("property: mutated and truncated .npy files give rows or an NpyError, nothing else", () => {
    fc.assert(fc.property(npyCase, checkNpy), { numRuns: 300, seed: 8 });
  });

  it("refuses what is not an activation array, in one line", () => {
    const dir = mkdtempSync(join(tmpdir(), "npy-"));
    const good = readFileSync(join(FIX, "v1_c_f4_le.npy"));
    const write = (name: string, bytes: Uint8Array | string) => (writeFileSync(join(dir, name), bytes), join(dir, name));
    const withHeader = (header: string) => {
      const text = header.padEnd(118, " ") + "\n";
      return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length, 0]), Buffer.from(text, "latin1"), Buffer.alloc(7 * 5 * 4)]);
    };
    expect(() => openNpy(write("short.npy", good.subarray(0, good.length - 4)))).toThrow(/is 264 bytes but its header .* says 268; the file is truncated/);
    expect(() => openNpy(write("text.npy", "hello"))).toThrow(/is not a \.npy file/);
    expect(() => openNpy(write("int.npy", withHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (7, 5), }")))).toThrow(/has dtype '<i4'; activations must be float16, float32 or float64/);
    expect(() => openNpy(write("vec.npy", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (35,), }")))).toThrow(/has shape \(35\); activations are \[rows, d_in\]/);
    expect(() => openNpy(write("struct.npy", withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (7, 5), }")))).toThrow(/structured or object dtypes are not activations/);
    expect(() => openNpy(write("keys.npy", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (7, 5), 'extra': True, }")))).toThrow(/np\.save writes exactly descr, fortran_order and shape/);
    expect(() => openNpy(join(dir, "missing.npy"))).toThrow(NpyError);
  });
});

describe("activation sources", () => {
  it("safetensors with one tensor per hook, and a folder of shards in natural order", () => {
    const st = openActivationSource(join(FIX, "acts.safetensors"), { hook: "blocks.3.hook_resid_post" });
    expect(Array.from(st.readRows(0, 7))).toEqual(Array.from(A));
    st.close();
    expect(() => openActivationSource(join(FIX, "acts.safetensors"))).toThrow(/holds 2 tensors \(blocks\.3\.hook_resid_post, other\); choose one with --hook/);
    const shards = openActivationSource(join(FIX, "shards"));
    expect(shards.files.map((s) => s.file.split("/").pop())).toEqual(["part_2.npy", "part_10.npy"]);
    expect(Array.from(shards.readRows(1, 5))).toEqual(Array.from(A.subarray(5, 30)));
    shards.close();
  });
});

describe("import-acts into the activation cache", () => {
  it("chunks, hashes and describes the rows; train reads them unchanged; the held-out rows are kept apart", () => {
    const root = mkdtempSync(join(tmpdir(), "import-"));
    const cache = importActivations(root, { source: join(FIX, "v2_fortran_f2_be.npy"), hook: "gpt_neox.layers.3", description: describeIt, heldOutRows: 2, chunkRows: 2 });
    expect(isImported(cache)).toBe(true);
    const m = cache.manifest;
    expect(m).toMatchObject({ rows: 5, dIn: 5, hooks: ["gpt_neox.layers.3"], seqLen: 1 });
    expect(m.chunks.map((c) => c.rows)).toEqual([2, 2, 1]);
    expect(m.imported).toMatchObject({ description: describeIt, heldOut: { rows: 2 }, ceLossScore: "unavailable" });
    const sourceSha = createHash("sha256").update(readFileSync(join(FIX, "v2_fortran_f2_be.npy"))).digest("hex");
    expect(m.imported!.sources[0]).toMatchObject({ sha256: sourceSha, format: "npy", layout: ">f2, Fortran order, .npy 2.0", shape: [7, 5] });
    // What train reads (loadActivationCache → rows): the first 5 rows; the held-out source: the last 2.
    const again = loadActivationCache(cache.dir);
    const rows = again.rows("gpt_neox.layers.3");
    const got = new Float32Array(25);
    for (let r = 0; r < 5; r++) rows.copyRow(r, got, r * 5);
    expect(Array.from(got)).toEqual(Array.from(A16.subarray(0, 25)));
    const held = heldOutRows(again, "gpt_neox.layers.3")!;
    const h = new Float32Array(10);
    for (let r = 0; r < 2; r++) held.copyRow(r, h, r * 5);
    expect(Array.from(h)).toEqual(Array.from(A16.subarray(25)));
    // The same import again reuses the cache; a changed chunk is caught on read.
    expect(importActivations(root, { source: join(FIX, "v2_fortran_f2_be.npy"), hook: "gpt_neox.layers.3", description: describeIt, heldOutRows: 2, chunkRows: 2 }).dir).toBe(cache.dir);
    expect(readdirSync(root).filter((n) => n.includes(".tmp-"))).toEqual([]);
    const chunk = join(cache.dir, m.chunks[1]!.file);
    const bytes = readFileSync(chunk);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(chunk, bytes);
    expect(() => loadActivationCache(cache.dir).rows("gpt_neox.layers.3")).toThrow(/does not match the sha256 in its manifest/);
  });

  it("refuses NaN rows (naming file and row), a missing description and impossible held-out counts; leaves nothing behind", () => {
    const root = mkdtempSync(join(tmpdir(), "import-bad-"));
    expect(() => importActivations(root, { source: join(FIX, "nan.npy"), description: describeIt })).toThrow(/nan\.npy row 4 holds NaN at column 2; activations must be finite/);
    expect(readdirSync(root).filter((n) => !n.endsWith(".lock"))).toEqual([]);
    expect(() => importActivations(root, { source: join(FIX, "v1_c_f4_le.npy"), description: { ...describeIt, tokens: "" } })).toThrow(/describe the activations: --tokens is required/);
    expect(() => importActivations(root, { source: join(FIX, "v1_c_f4_le.npy"), description: describeIt, heldOutRows: 7 })).toThrow(/--held-out-rows 7 must be an integer from 0 to 6/);
    expect(() => importActivations(root, { source: join(FIX, "nothing.npy"), description: describeIt })).toThrow(/no such file or folder/);
    expect(existsSync(join(root, "manifest.json"))).toBe(false);
  });

  it("a folder of shards imports to the same rows as the single file", () => {
    const root = mkdtempSync(join(tmpdir(), "import-shards-"));
    const a = importActivations(root, { source: join(FIX, "shards"), hook: "h", description: describeIt, heldOutRows: 0 });
    const rows = a.rows("h");
    const got = new Float32Array(35);
    for (let r = 0; r < 7; r++) rows.copyRow(r, got, r * 5);
    expect(Array.from(got)).toEqual(Array.from(A));
    expect(a.manifest.imported!.sources.length).toBe(2);
    expect(heldOutRows(a, "h")).toBeNull();
  });
});
