/**
 * What every SAE file reader shares: the error type, the loaded-SAE record, typed access to config fields (each
 * failure naming the field, its value and what was expected), and the checks that tie a config to its tensors.
 * One reader per library lives beside this file; ./registry.ts detects a directory's format and dispatches.
 */
import { readFileSync } from "node:fs";
import type { Architecture } from "../arch/types.ts";
import type { SAEParams } from "../params.ts";
import type { SAE } from "../sae.ts";
import { decoderNorms } from "../step.ts";

/** SAELens's weights file name. */
export const SAE_WEIGHTS_FILE = "sae_weights.safetensors";
/** SAELens's (and sparsify's) config file name. */
export const SAE_CONFIG_FILE = "cfg.json";
/** SAELens (6.x) writes its activation scaling factor here beside a training checkpoint. */
export const ACTIVATION_SCALER_FILE = "activation_scaler.json";

/** An SAE file (any library's layout) that is missing, malformed or inconsistent: the message names the file and the field or tensor. */
export class SAEFileError extends Error {
  override name = "SAEFileError";
}

/** The libraries whose files sae-seeds reads. */
export type SAEFormat = "saelens" | "seed-platform" | "sparsify" | "dictionary_learning";

/** An SAE read from any library's files, with what the files say about it. */
export interface LoadedSAE {
  sae: SAE;
  format: SAEFormat;
  hookName: string | null;
  /** The model the SAE was trained on, as the file names it (null when it does not). */
  modelName: string | null;
  /** The file's own name for its kind of SAE: SAELens `architecture`, sparsify `activation`, dictionary_learning `dict_class` (or "seed-platform"). */
  architecture: string;
  cfg: Record<string, unknown>;
  /** The directory (or file) that was read. */
  source?: string;
}

/** What a caller can add to what the files say. */
export interface LoadOptions {
  /** k for TopK files that do not record it (e.g. seed-platform files without config.json). TopK only. */
  k?: number;
  /**
   * Only the decoder is wanted (matching dictionaries): a TopK file without k loads, with sae.k = 0 (encode
   * refuses it). Everything else is checked as usual.
   */
  decoderOnly?: boolean;
  /** Which hookpoint folder of a repository with several (sparsify's layout: one folder per hookpoint). */
  hookpoint?: string;
}

/** Transpose a row-major [rows, cols] matrix. */
export function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** A JSON object from a file, or an SAEFileError naming the file. */
export function readJson(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, "utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new SAEFileError(`${path}: ${(e as Error).message}`);
  }
}

/** Typed access to config fields, each failure naming the field, its value and what was expected. */
export class CfgReader {
  constructor(private readonly cfg: Record<string, unknown>, private readonly where: string, readonly file = "cfg.json") {}
  fail(field: string, problem: string): never {
    throw new SAEFileError(`${this.where}: ${this.file} field "${field}" ${problem}`);
  }
  private get(field: string): unknown {
    return this.cfg[field];
  }
  has(field: string): boolean {
    return this.cfg[field] !== undefined && this.cfg[field] !== null;
  }
  optionalInt(field: string): number | undefined {
    const v = this.get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) this.fail(field, `must be an integer, got ${JSON.stringify(v)}`);
    return v;
  }
  optionalNumber(field: string): number | undefined {
    const v = this.get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
  optionalBool(field: string): boolean | undefined {
    const v = this.get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  optionalString(field: string): string | undefined {
    const v = this.get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") this.fail(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
  oneOf<T extends string>(field: string, allowed: readonly T[], fallback: T): T {
    const v = this.optionalString(field) ?? fallback;
    if (!allowed.includes(v as T)) this.fail(field, `is "${v}", which sae-seeds does not support (supported: ${allowed.join(", ")})`);
    return v as T;
  }
  /** Refuse fields this reader does not know: a field it would ignore could change what the file computes. */
  onlyKnown(known: ReadonlySet<string>, library: string): void {
    for (const field of Object.keys(this.cfg)) {
      if (!known.has(field)) this.fail(field, `is not a ${library} field sae-seeds knows, so it cannot tell whether the SAE computes what it reads; remove it if it does not change the forward pass, or open an issue`);
    }
  }
}

/** Refuse a config whose d_in / d_sae disagree with the weights, naming the field. */
export function checkDims(reader: CfgReader, dIn: number, dSae: number, tensorName: string, names: { dIn: string; dSae: string } = { dIn: "d_in", dSae: "d_sae" }): void {
  const cfgDIn = reader.optionalInt(names.dIn), cfgDSae = reader.optionalInt(names.dSae);
  if (cfgDIn !== undefined && cfgDIn !== dIn) reader.fail(names.dIn, `is ${cfgDIn} but ${tensorName} holds d_in = ${dIn}; fix the config or the weights`);
  if (cfgDSae !== undefined && cfgDSae !== dSae) reader.fail(names.dSae, `is ${cfgDSae} but ${tensorName} holds d_sae = ${dSae}; fix the config or the weights`);
}

/** k from the file and/or --k, checked against the architecture (TopK needs one, others refuse --k) and d_sae. */
export function resolveK(reader: CfgReader, arch: Architecture, fileK: number | undefined, dSae: number, options: LoadOptions, dir: string, label: string): number {
  const flagK = options.k;
  if (arch.sparsity !== "topk") {
    if (flagK !== undefined) throw new SAEFileError(`${dir}: --k applies to TopK SAEs only, and this is a ${label} SAE; drop --k`);
    return fileK ?? 0;
  }
  if (fileK !== undefined && flagK !== undefined && fileK !== flagK) throw new SAEFileError(`${dir}: ${reader.file} says k = ${fileK} but --k ${flagK} was given; drop --k`);
  const k = fileK ?? flagK;
  if (k === undefined) {
    if (options.decoderOnly) return 0;
    throw new SAEFileError(`${dir}: this TopK SAE's files give no k; pass --k`);
  }
  if (!(k >= 1 && k <= dSae)) reader.fail("k", `is ${k}, outside 1..d_sae (${dSae})`);
  return k;
}

/**
 * Fold per-latent decoder norms into the encoder: W_enc[j]·‖W_dec[j]‖, b_enc[j]·‖W_dec[j]‖, W_dec[j]/‖W_dec[j]‖
 * (and any per-latent threshold in `scaleAlso`). The same function of the input, with unit decoder rows: SAELens's
 * rescale_acts_by_decoder_norm and dictionary_learning's AutoEncoder.normalize_decoder.
 */
export function foldDecoderNorms(p: SAEParams, scaleAlso: Float32Array[] = []): void {
  const norms = decoderNorms(p);
  const { dIn } = p;
  for (let j = 0; j < p.dSae; j++) {
    const s = norms[j]!;
    if (!(s > 0)) continue;
    p.bEnc[j] *= s;
    for (const t of scaleAlso) t[j] *= s;
    for (let c = 0; c < dIn; c++) {
      p.wEnc[j * dIn + c] *= s;
      p.wDec[j * dIn + c] /= s;
    }
  }
}

/** Refuse tensors a reader did not use: an extra tensor means the file is not what its config says. */
export function refuseUnusedTensors(path: string, present: Iterable<string>, used: ReadonlySet<string>, what: string, fix: string): void {
  const unused = [...present].filter((n) => !used.has(n)).sort();
  if (unused.length > 0) throw new SAEFileError(`${path}: tensor${unused.length > 1 ? "s" : ""} ${unused.map((n) => `"${n}"`).join(", ")} ${unused.length > 1 ? "are" : "is"} not part of ${what}; ${fix}`);
}
