/**
 * Turning a checkpoint's tensors (one safetensors file or several shards) into the forward's parameters: the checks
 * every family shares (every expected key present with its shape, nothing unexpected but known buffers, floating
 * dtypes only), and the conversions (16-bit matrices kept as their codes, vectors decoded to float32, q/k/v and
 * gate/up matrices stacked into the fused projections).
 */
import type { DType } from "../safetensors.ts";
import type { Linear, Matrix, MatrixDtype } from "../decoder/weights.ts";
import { decodeBf16, decodeF16 } from "../../tensor/half.ts";
import { WeightsError } from "../weights.ts";

/** What a loader hands a family: the tensors by their names in the file(s). */
export interface CheckpointTensors {
  /** Every tensor name. */
  names(): string[];
  /** A tensor's dtype and shape (from the header; nothing is read). */
  info(name: string): { dtype: DType; shape: readonly number[] };
  /** A floating tensor as float32 (F16/BF16 upcast exactly, F64 rounded). */
  readFloat32(name: string): Float32Array;
  /** The raw codes of an F16 or BF16 tensor. */
  readCodes(name: string): Uint16Array;
}

export interface ExpectedTensor {
  key: string;
  shape: number[];
}

const FLOAT_DTYPES: readonly DType[] = ["F32", "F16", "BF16", "F64"];

function summarise(items: string[]): string {
  return items.length <= 8 ? items.join(", ") : `${items.slice(0, 8).join(", ")}, … (${items.length - 8} more)`;
}

/**
 * Every expected key present with its shape and a floating dtype, and nothing else but what `ignorable` accepts:
 * otherwise one WeightsError listing every problem. `model` describes the config (for the message).
 */
export function checkTensors(src: CheckpointTensors, expected: ExpectedTensor[], ignorable: (key: string) => boolean, label: string, model: string): void {
  const present = new Set(src.names());
  const missing: string[] = [];
  const wrongShape: string[] = [];
  const wrongType: string[] = [];
  for (const { key, shape } of expected) {
    if (!present.has(key)) {
      missing.push(key);
      continue;
    }
    const info = src.info(key);
    if (info.shape.join(",") !== shape.join(",")) wrongShape.push(`${key} is [${info.shape.join(", ")}], expected [${shape.join(", ")}]`);
    if (!FLOAT_DTYPES.includes(info.dtype)) wrongType.push(`${key} is ${info.dtype}`);
  }
  const known = new Set(expected.map((e) => e.key));
  const unexpected = [...present].filter((k) => !known.has(k) && !ignorable(k));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.length}: ${summarise(missing)}`);
  if (unexpected.length) problems.push(`unexpected ${unexpected.length}: ${summarise(unexpected)}`);
  if (wrongShape.length) problems.push(`wrong shape: ${summarise(wrongShape)}`);
  if (wrongType.length) problems.push(`not a floating-point dtype: ${summarise(wrongType)}`);
  if (problems.length) throw new WeightsError(`${label} does not match ${model}: ${problems.join("; ")}. Check that config.json belongs to these weights.`);
}

/**
 * A 2-D tensor as a Matrix: 16-bit files stay 16-bit (their codes) when `keep16`, anything else becomes float32.
 */
export function readMatrix(src: CheckpointTensors, key: string, keep16: boolean): Matrix {
  const { dtype, shape } = src.info(key);
  const [rows, cols] = shape.length === 2 ? [shape[0]!, shape[1]!] : [shape[0] ?? 1, shape.slice(1).reduce((a, b) => a * b, 1)];
  if (keep16 && (dtype === "F16" || dtype === "BF16")) return { rows, cols, dtype, data: src.readCodes(key) };
  return { rows, cols, dtype: "F32", data: src.readFloat32(key) };
}

export function toFloat32(m: Matrix): Float32Array {
  if (m.dtype === "F32") return m.data as Float32Array;
  return m.dtype === "F16" ? decodeF16(m.data as Uint16Array) : decodeBf16(m.data as Uint16Array);
}

/** Matrices with the same column count stacked by rows, in one dtype (16-bit only when all share it). */
export function stackRows(parts: Matrix[]): Matrix {
  const cols = parts[0]!.cols;
  if (parts.some((p) => p.cols !== cols)) throw new WeightsError(`cannot stack matrices of ${parts.map((p) => p.cols).join(" and ")} columns`);
  const rows = parts.reduce((s, p) => s + p.rows, 0);
  const dtype: MatrixDtype = parts.every((p) => p.dtype === parts[0]!.dtype) ? parts[0]!.dtype : "F32";
  const data = dtype === "F32" ? new Float32Array(rows * cols) : new Uint16Array(rows * cols);
  let offset = 0;
  for (const p of parts) {
    const values = dtype === "F32" ? toFloat32(p) : p.data;
    (data as Float32Array | Uint16Array).set(values as never, offset);
    offset += p.rows * cols;
  }
  return { rows, cols, dtype, data };
}

/** Vectors concatenated (biases of stacked projections); null when every part is null, zeros for a missing part. */
export function stackVectors(parts: (Float32Array | null)[], lengths: number[]): Float32Array | null {
  if (parts.every((p) => p === null)) return null;
  const out = new Float32Array(lengths.reduce((a, b) => a + b, 0));
  let offset = 0;
  parts.forEach((p, i) => {
    if (p) out.set(p, offset);
    offset += lengths[i]!;
  });
  return out;
}

/** An nn.Linear layer (weight [out, in]). */
export function outInLinear(weight: Matrix, bias: Float32Array | null): Linear {
  return { weight, layout: "out_in", bias, inDim: weight.cols, outDim: weight.rows };
}

/** Whether two matrices hold the same values (a file's lm_head against its embedding, for tied models). */
export function sameMatrix(a: Matrix, b: Matrix): boolean {
  if (a.rows !== b.rows || a.cols !== b.cols) return false;
  const x = toFloat32(a), y = toFloat32(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(x[i] !== x[i] && y[i] !== y[i])) return false;
  return true;
}
