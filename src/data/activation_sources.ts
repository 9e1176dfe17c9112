/**
 * Activations computed elsewhere — by any model, any library — as one stream of rows [rows, d_in]:
 *
 *   file.npy            one array (./npy.ts: versions 1–3, either byte order, C or Fortran order, f32/f16/f64)
 *   file.safetensors    one tensor per hook: the tensor named by --hook, or the file's only tensor; [rows, d] or
 *                       [..., d] (batch × sequence × d reads as rows)
 *   a folder of shards  every *.npy (or every *.safetensors, with the same tensor name in each) in natural order
 *                       (shard_2 before shard_10), concatenated by rows; all must share d_in (and a safetensors
 *                       folder the tensor); a mixed folder is refused
 *
 * Reading is in bounded pieces (`readRows` reads only the bytes of the rows asked for), so sources larger than
 * memory stream. Each source file's sha256 is computed by streaming it once; together they identify the import.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { openNpy, type NpyFile } from "./npy.ts";
import { openSafetensors, type SafetensorsFile } from "../gpt2/safetensors.ts";

/** Activations that cannot be read as rows (missing, mixed shards, wrong dtype or shape): the message names the file. */
export class ActivationSourceError extends Error {
  override name = "ActivationSourceError";
}

/** One file of a source, as the manifest records it. */
export interface SourceFileInfo {
  file: string;
  bytes: number;
  format: "npy" | "safetensors";
  /** npy: "<f4", ">f2" … and C/Fortran order; safetensors: the tensor's dtype and name. */
  layout: string;
  shape: number[];
  rows: number;
}

export interface ActivationSource {
  /** What was opened (a file or a folder). */
  path: string;
  rows: number;
  d: number;
  /** The safetensors tensor read (null for .npy). */
  tensor: string | null;
  files: SourceFileInfo[];
  /** Rows [start, start + count) as float32 [count, d]. */
  readRows(start: number, count: number): Float32Array;
  /** sha256 of each file, streamed (in files order). */
  sha256(onProgress?: (bytesDone: number, bytesTotal: number) => void): string[];
  /** Close every file of the source. */
  close(): void;
}

interface Part {
  info: SourceFileInfo;
  readRows(start: number, count: number): Float32Array;
  close(): void;
}

function npyPart(path: string): Part {
  const f: NpyFile = openNpy(path);
  const h = f.header;
  return {
    info: { file: path, bytes: f.bytes, format: "npy", layout: `${h.bigEndian ? ">" : "<"}${h.dtype}, ${h.fortranOrder ? "Fortran" : "C"} order, .npy ${h.version}`, shape: h.shape, rows: f.rows },
    readRows: (s, c) => f.readRows(s, c),
    close: () => f.close(),
  };
}

function safetensorsPart(path: string, hook: string | undefined): Part & { tensor: string } {
  let f: SafetensorsFile;
  try {
    f = openSafetensors(path);
  } catch (e) {
    throw new ActivationSourceError((e as Error).message);
  }
  try {
    const names = f.names();
    const tensor = hook ?? (names.length === 1 ? names[0]! : undefined);
    if (tensor === undefined) throw new ActivationSourceError(`${path}: holds ${names.length} tensors (${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""}); choose one with --hook`);
    if (!f.has(tensor)) throw new ActivationSourceError(`${path}: no tensor "${tensor}" (it holds ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""})`);
    const info = f.info(tensor);
    if (!["F32", "F16", "BF16", "F64"].includes(info.dtype)) throw new ActivationSourceError(`${path}: tensor "${tensor}" has dtype ${info.dtype}; activations must be floating point`);
    if (info.shape.length < 2) throw new ActivationSourceError(`${path}: tensor "${tensor}" has shape [${info.shape.join(", ")}]; activations are [rows, d_in] (or [..., d_in])`);
    const d = info.shape[info.shape.length - 1]!;
    const rows = info.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const bytes = statSync(path).size;
    // Leading axes fold into rows: read the tensor as [rows, d] by its first axis in blocks of whole leading rows.
    const perFirst = info.shape.slice(1, -1).reduce((a, b) => a * b, 1);
    return {
      tensor,
      info: { file: path, bytes, format: "safetensors", layout: `${info.dtype} tensor "${tensor}"`, shape: info.shape, rows },
      readRows(start, count) {
        if (perFirst === 1) return f.readRowsFloat32(tensor, start, count);
        // Rows inside leading blocks: read the covering blocks, then cut.
        const b0 = Math.floor(start / perFirst), b1 = Math.ceil((start + count) / perFirst);
        const block = f.readRowsFloat32(tensor, b0, b1 - b0);
        const offset = (start - b0 * perFirst) * d;
        return block.slice(offset, offset + count * d);
      },
      close: () => f.close(),
    };
  } catch (e) {
    f.close();
    throw e;
  }
}

function naturalSort(names: string[]): string[] {
  return names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

/** Open activations at `path`: a .npy or .safetensors file, or a folder of shards. */
export function openActivationSource(path: string, options: { hook?: string } = {}): ActivationSource {
  if (!existsSync(path)) throw new ActivationSourceError(`${path}: no such file or folder`);
  let files: string[];
  if (statSync(path).isDirectory()) {
    const entries = readdirSync(path).filter((n) => statSync(join(path, n)).isFile());
    const npy = entries.filter((n) => n.endsWith(".npy")), st = entries.filter((n) => n.endsWith(".safetensors"));
    if (npy.length > 0 && st.length > 0) throw new ActivationSourceError(`${path}: holds both .npy and .safetensors shards; put one kind of shard in the folder`);
    files = naturalSort(npy.length > 0 ? npy : st).map((n) => join(path, n));
    if (files.length === 0) throw new ActivationSourceError(`${path}: no .npy or .safetensors shards in this folder`);
  } else {
    if (!path.endsWith(".npy") && !path.endsWith(".safetensors")) throw new ActivationSourceError(`${path}: not a .npy or .safetensors file (or a folder of them)`);
    files = [path];
  }
  const parts: Part[] = [];
  let tensor: string | null = null;
  try {
    for (const file of files) {
      if (file.endsWith(".npy")) parts.push(npyPart(file));
      else {
        const p = safetensorsPart(file, options.hook ?? tensor ?? undefined);
        if (tensor !== null && p.tensor !== tensor) throw new ActivationSourceError(`${file}: reads tensor "${p.tensor}" but the other shards "${tensor}"`);
        tensor = p.tensor;
        parts.push(p);
      }
    }
  } catch (e) {
    for (const p of parts) p.close();
    throw e;
  }
  const dOf = (p: Part) => p.info.shape[p.info.shape.length - 1]!;
  const d = dOf(parts[0]!);
  for (const p of parts) {
    if (dOf(p) !== d) {
      for (const q of parts) q.close();
      throw new ActivationSourceError(`${p.info.file}: rows of ${dOf(p)} values, but ${basename(parts[0]!.info.file)} has ${d}; every shard must have the same d_in`);
    }
  }
  const starts: number[] = [];
  let rows = 0;
  for (const p of parts) {
    starts.push(rows);
    rows += p.info.rows;
  }
  return {
    path, rows, d, tensor, files: parts.map((p) => p.info),
    readRows(start, count) {
      if (!(start >= 0 && count >= 0 && start + count <= rows)) throw new ActivationSourceError(`${path}: rows ${start}..${start + count} asked for, but it has ${rows}`);
      const out = new Float32Array(count * d);
      let done = 0;
      while (done < count) {
        const row = start + done;
        let k = parts.length - 1;
        while (starts[k]! > row) k--;
        const take = Math.min(count - done, starts[k]! + parts[k]!.info.rows - row);
        out.set(parts[k]!.readRows(row - starts[k]!, take), done * d);
        done += take;
      }
      return out;
    },
    sha256(onProgress) {
      const total = parts.reduce((a, p) => a + p.info.bytes, 0);
      let seen = 0;
      const buffer = new Uint8Array(8 << 20);
      return parts.map((p) => {
        const h = createHash("sha256");
        const fd = openSync(p.info.file, "r");
        try {
          for (;;) {
            const n = readSync(fd, buffer, 0, buffer.length, null);
            if (n <= 0) break;
            h.update(buffer.subarray(0, n));
            seen += n;
            onProgress?.(seen, total);
          }
        } finally {
          closeSync(fd);
        }
        return h.digest("hex");
      });
    },
    close() {
      for (const p of parts) p.close();
    },
  };
}
