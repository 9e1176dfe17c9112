/**
 * SAE files.
 *
 * SAELens layout (what we write and read): a directory with `cfg.json` and `sae_weights.safetensors` holding
 * W_enc [d_in, d_sae], the encoder bias (b_enc; gated's b_gate), W_dec [d_sae, d_in], b_dec [d_in] and the
 * architecture's own tensors (jumprelu's threshold, gated's r_mag and b_mag), float32. Each architecture is read
 * with its own math, chosen by cfg.json's `architecture` (./arch/*.ts say which names they read and write);
 * anything we cannot compute exactly is refused in one line rather than reinterpreted.
 *
 * cfg.json as written is readable by SAELens 6 and by SAELens ≤ 5: the v6 fields (d_in, d_sae, dtype, device,
 * apply_b_dec_to_input, normalize_activations, reshape_activations, metadata{sae_lens_version, model_name,
 * hook_name, …}, the architecture's fields, architecture) — `metadata.sae_lens_version` tells v6 to read them as
 * such — then the pre-6 fields v5 requires at top level (activation_fn_str, activation_fn_kwargs, model_name,
 * hook_name, hook_layer, hook_head_index, context_size, dataset_path, prepend_bos, …), then our own record under
 * `sae_seeds`. A trained SAE's input scale is folded into the weights (W_enc·s, W_dec/s, b_dec/s) so the file works
 * on raw activations and `normalize_activations` is "none", as SAELens does when it folds its scaling factor.
 *
 * Read side, beyond the layouts above: pre-6 names (`hook_point`, `activation_fn`, architecture defaulting to
 * standard, TopK as activation_fn "topk" with activation_fn_kwargs.k), `rescale_acts_by_decoder_norm: true`
 * (folded into the weights), `normalize_activations` constant_norm_rescale / layer_norm (applied per row) and
 * expected_average_only_in (the factor from SAELens's activation_scaler.json beside the weights).
 *
 * The seed study's platform layout (read and written): PyTorch nn.Linear names — `encoder.weight` [d_sae, d_in],
 * `encoder.bias`, `decoder.weight` [d_in, d_sae], `decoder.bias` — with the seed-report recipe's semantics.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../data/json_files.ts";
import { join } from "node:path";
import { openSafetensors, writeSafetensors } from "../gpt2/safetensors.ts";
import { RECIPES, type Recipe } from "./config.ts";
import { ARCHITECTURES, architectureForSAELens } from "./arch/registry.ts";
import type { Architecture } from "./arch/types.ts";
import { allocateParams, type SAEParams } from "./params.ts";
import { architectureOf, subtractsDecoderBias, type RowNormalization, type SAE } from "./sae.ts";
import { decoderNorms } from "./step.ts";

export const SAE_WEIGHTS_FILE = "sae_weights.safetensors";
export const SAE_CONFIG_FILE = "cfg.json";
/** SAELens (6.x) writes its activation scaling factor here beside a training checkpoint. */
export const ACTIVATION_SCALER_FILE = "activation_scaler.json";
/** The SAELens config layout we write (v6: metadata block); 6.0 and later read it. */
export const SAELENS_LAYOUT_VERSION = "6.0.0";

export interface SAEFileInfo {
  hookName: string;
  /** The model's TransformerLens name, e.g. "gpt2" (SAELens loads the model by it). Not a display label. */
  modelName: string;
  /** A display label for the model (e.g. "GPT-2 small (random control)"), kept under sae_seeds. */
  modelLabel?: string;
  /** Tokens per training context (SAELens context_size; null when unknown). */
  contextSize?: number;
  /** The training corpus (SAELens dataset_path; null when unknown). */
  datasetPath?: string;
  /** Whether contexts started with BOS (SAELens prepend_bos; default true). */
  prependBos?: boolean;
  /** Anything else worth recording (seed, recipe settings, corpus, …), stored under cfg.sae_seeds. */
  extra?: Record<string, unknown>;
}

/** An SAE file (SAELens cfg.json + safetensors) that is missing, malformed or inconsistent. */
export class SAEFileError extends Error {
  override name = "SAEFileError";
}

/** Transpose a row-major [rows, cols] matrix. */
export function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** The SAE with its input scale folded into the weights (the same function of raw activations, scale 1). */
function foldInputScale(sae: SAE): SAE {
  const s = sae.inputScale;
  if (s === 1) return sae;
  const p = sae.params;
  const params: SAEParams = { ...p, wEnc: p.wEnc.map((v) => v * s), wDec: p.wDec.map((v) => v / s), bDec: p.bDec.map((v) => v / s) };
  return { ...sae, params, inputScale: 1, applyDecoderBiasToInput: subtractsDecoderBias(sae) };
}

/** Write an SAE in SAELens layout into `dir` (created if needed; files replaced atomically). */
export function saveSAELens(dir: string, sae: SAE, info: SAEFileInfo): void {
  const arch = architectureOf(sae.recipe);
  const folded = foldInputScale(sae);
  const { dIn, dSae, wEnc, bEnc, wDec, bDec } = folded.params;
  const own = arch.saelens.write(folded);
  const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {
    W_enc: { dtype: "F32", shape: [dIn, dSae], data: transposeMatrix(wEnc, dSae, dIn) },
    [arch.saelens.encoderBiasName]: { dtype: "F32", shape: [dSae], data: bEnc },
    W_dec: { dtype: "F32", shape: [dSae, dIn], data: wDec },
    b_dec: { dtype: "F32", shape: [dIn], data: bDec },
  };
  for (const [name, data] of Object.entries(own.tensors)) tensors[name] = { dtype: "F32", shape: [data.length], data };
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, SAE_WEIGHTS_FILE), tensors, { format: "pt" });

  const hookLayer = Number(/^blocks\.(\d+)\./.exec(info.hookName)?.[1] ?? -1);
  const run = {
    model_name: info.modelName, hook_name: info.hookName, hook_head_index: null, context_size: info.contextSize ?? null,
    prepend_bos: info.prependBos ?? true, dataset_path: info.datasetPath ?? null,
  };
  const applyBDec = subtractsDecoderBias(folded);
  const normalize = folded.rowNormalization ?? "none";
  const cfg = {
    // SAELens 6 (SAEConfig.to_dict order): common fields, metadata, the architecture's fields, architecture.
    d_in: dIn, d_sae: dSae, dtype: "float32", device: "cpu", apply_b_dec_to_input: applyBDec,
    normalize_activations: normalize, reshape_activations: "none",
    metadata: { sae_lens_version: SAELENS_LAYOUT_VERSION, sae_lens_training_version: null, ...run, model_from_pretrained_kwargs: {} },
    ...own.cfg,
    architecture: arch.saelens.architecture,
    // SAELens ≤ 5 reads these top-level fields (6 ignores them).
    activation_fn_str: arch.saelens.activationFn,
    activation_fn_kwargs: arch.sparsity === "topk" ? { k: folded.k } : {},
    finetuning_scaling_factor: false, sae_lens_training_version: null, dataset_trust_remote_code: true,
    ...run, hook_layer: hookLayer,
    sae_seeds: { recipe: sae.recipe, k: sae.k, input_scale_folded: sae.inputScale, ...(info.modelLabel ? { model_label: info.modelLabel } : {}), ...info.extra },
  };
  writeFileAtomic(join(dir, SAE_CONFIG_FILE), JSON.stringify(cfg, null, 2) + "\n");
}

function readJson(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, "utf8"));
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new SAEFileError(`${path}: ${(e as Error).message}`);
  }
}

export interface LoadedSAE {
  sae: SAE;
  format: "saelens" | "seed-platform";
  hookName: string | null;
  /** The model the SAE was trained on, as the file names it (null when it does not). */
  modelName: string | null;
  /** SAELens `architecture` (or "seed-platform"). */
  architecture: string;
  cfg: Record<string, unknown>;
}

export interface LoadOptions {
  /** k for TopK files that do not record it (e.g. seed-platform files without config.json). TopK only. */
  k?: number;
  /**
   * Only the decoder is wanted (matching dictionaries): a TopK file without k loads, with sae.k = 0 (encode
   * refuses it). Everything else is checked as usual.
   */
  decoderOnly?: boolean;
}

const NORMALIZATIONS = ["none", "constant_norm_rescale", "layer_norm", "expected_average_only_in"] as const;
const DTYPES = ["float32", "float64", "float16", "bfloat16", "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16"];

/** Typed access to cfg.json fields, each failure naming the field, its value and what was expected. */
class CfgReader {
  constructor(private readonly cfg: Record<string, unknown>, private readonly where: string) {}
  fail(field: string, problem: string): never {
    throw new SAEFileError(`${this.where}: cfg.json field "${field}" ${problem}`);
  }
  private get(field: string): unknown {
    return this.cfg[field];
  }
  optionalInt(field: string): number | undefined {
    const v = this.get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) this.fail(field, `must be an integer, got ${JSON.stringify(v)}`);
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
}

/** SAELens ≥ 6 layout (sae_lens_version ≥ 6 at top level or in metadata) or the older one. */
function isV6Layout(cfg: Record<string, unknown>): boolean {
  const meta = cfg.metadata as Record<string, unknown> | undefined;
  const version = cfg.sae_lens_version ?? meta?.sae_lens_version;
  if (typeof version !== "string") return false;
  const major = Number(/^(\d+)/.exec(version)?.[1] ?? NaN);
  return major >= 6;
}

/** The SAELens `architecture` a cfg.json means, by SAELens's own rules for each layout. */
function saelensArchitecture(cfg: Record<string, unknown>, reader: CfgReader): string {
  const declared = reader.optionalString("architecture");
  if (isV6Layout(cfg)) {
    if (declared === undefined) reader.fail("architecture", "is missing (SAELens 6 configs always have it)");
    return declared;
  }
  // Pre-6: architecture defaults to standard; activation_fn "topk" with a k means TopK whatever it says.
  const fn = reader.optionalString("activation_fn_str") ?? reader.optionalString("activation_fn") ?? "relu";
  const kwargs = cfg.activation_fn_kwargs as { k?: unknown } | undefined;
  if (fn === "topk" && kwargs?.k !== undefined && kwargs.k !== null) return "topk";
  const arch = declared ?? "standard";
  if ((arch === "standard" || arch === "jumprelu" || arch === "gated") && fn !== "relu") {
    reader.fail(fn === reader.optionalString("activation_fn_str") ? "activation_fn_str" : "activation_fn", `is "${fn}"; sae-seeds reads ${arch} SAEs with a ReLU only`);
  }
  return arch;
}

function fieldFromEither(cfg: Record<string, unknown>, names: string[]): unknown {
  const meta = (cfg.metadata ?? {}) as Record<string, unknown>;
  for (const n of names) if (meta[n] !== undefined && meta[n] !== null) return meta[n];
  for (const n of names) if (cfg[n] !== undefined && cfg[n] !== null) return cfg[n];
  return undefined;
}

/** Fold SAELens's rescale_acts_by_decoder_norm: W_enc[j]·‖W_dec[j]‖, b_enc[j]·‖W_dec[j]‖, W_dec[j]/‖W_dec[j]‖. */
function foldDecoderNorms(p: SAEParams): void {
  const norms = decoderNorms(p);
  const { dIn } = p;
  for (let j = 0; j < p.dSae; j++) {
    const s = norms[j]!;
    if (!(s > 0)) continue;
    p.bEnc[j] *= s;
    for (let c = 0; c < dIn; c++) {
      p.wEnc[j * dIn + c] *= s;
      p.wDec[j * dIn + c] /= s;
    }
  }
}

function checkDims(reader: CfgReader, dIn: number, dSae: number, tensorName: string): void {
  const cfgDIn = reader.optionalInt("d_in"), cfgDSae = reader.optionalInt("d_sae");
  if (cfgDIn !== undefined && cfgDIn !== dIn) reader.fail("d_in", `is ${cfgDIn} but ${tensorName} holds d_in = ${dIn}; fix cfg.json or the weights`);
  if (cfgDSae !== undefined && cfgDSae !== dSae) reader.fail("d_sae", `is ${cfgDSae} but ${tensorName} holds d_sae = ${dSae}; fix cfg.json or the weights`);
}

function resolveK(reader: CfgReader, arch: Architecture, fileK: number | undefined, dSae: number, options: LoadOptions, dir: string, label: string): number {
  const flagK = options.k;
  if (arch.sparsity !== "topk") {
    if (flagK !== undefined) throw new SAEFileError(`${dir}: --k applies to TopK SAEs only, and this is a ${label} SAE; drop --k`);
    return fileK ?? 0;
  }
  if (fileK !== undefined && flagK !== undefined && fileK !== flagK) throw new SAEFileError(`${dir}: cfg.json says k = ${fileK} but --k ${flagK} was given; drop --k`);
  const k = fileK ?? flagK;
  if (k === undefined) {
    if (options.decoderOnly) return 0;
    throw new SAEFileError(`${dir}: this TopK SAE's files give no k; pass --k`);
  }
  if (!(k >= 1 && k <= dSae)) reader.fail("k", `is ${k}, outside 1..d_sae (${dSae})`);
  return k;
}

function loadSAELensFile(dir: string, weightsPath: string, cfg: Record<string, unknown>, options: LoadOptions): LoadedSAE {
  const reader: CfgReader = new CfgReader(cfg, dir);
  const name = saelensArchitecture(cfg, reader);
  const seeds = (cfg.sae_seeds ?? {}) as { recipe?: unknown; k?: unknown };
  let arch: Architecture | undefined;
  if (seeds.recipe !== undefined) {
    if (typeof seeds.recipe !== "string" || !RECIPES.includes(seeds.recipe as Recipe)) reader.fail("sae_seeds.recipe", `is ${JSON.stringify(seeds.recipe)}, not one of ${RECIPES.join(", ")}`);
    arch = ARCHITECTURES[seeds.recipe as Recipe];
    if (arch.saelens.architecture !== name) reader.fail("architecture", `is "${name}" but sae_seeds.recipe ${seeds.recipe} is written as "${arch.saelens.architecture}"`);
  } else {
    arch = architectureForSAELens(name);
  }
  if (!arch) reader.fail("architecture", `is "${name}", which sae-seeds does not read (it reads ${[...new Set(Object.values(ARCHITECTURES).flatMap((a) => [a.saelens.architecture, ...(a.saelens.alsoReads ?? [])]))].join(", ")})`);
  reader.oneOf("dtype", DTYPES, "float32");
  reader.oneOf("reshape_activations", ["none", "hook_z"], "none");
  const applyBDec = reader.optionalBool("apply_b_dec_to_input") ?? true;
  const legacyNorm = cfg.normalize_activations;
  const normalize: (typeof NORMALIZATIONS)[number] = typeof legacyNorm === "boolean" ? (legacyNorm ? "expected_average_only_in" : "none") : reader.oneOf("normalize_activations", NORMALIZATIONS, "none");
  const rescale = reader.optionalBool("rescale_acts_by_decoder_norm") ?? false;
  if (rescale && !arch.saelens.rescalesByDecoderNorm) reader.fail("rescale_acts_by_decoder_norm", `is true, which SAELens defines only for TopK SAEs, not ${name}`);
  if (reader.optionalBool("finetuning_scaling_factor")) reader.fail("finetuning_scaling_factor", "is true; sae-seeds does not apply a fine-tuning scaling factor");

  const file = openSafetensors(weightsPath);
  try {
    const names = new Set(file.names());
    const tensor = (tensorName: string, shape: number[] | "scalar"): Float32Array => {
      if (!names.has(tensorName)) throw new SAEFileError(`${weightsPath}: no tensor "${tensorName}", which a ${name} SAE needs`);
      const info = file.info(tensorName);
      const fits = shape === "scalar" ? info.shape.length === 0 || info.shape.join(",") === "1" : info.shape.join(",") === shape.join(",");
      if (!fits) throw new SAEFileError(`${weightsPath}: ${tensorName} has shape [${info.shape.join(", ")}], expected ${shape === "scalar" ? "a scalar" : `[${shape.join(", ")}] from W_enc`}`);
      if (!["F32", "F16", "BF16", "F64"].includes(info.dtype)) throw new SAEFileError(`${weightsPath}: ${tensorName} has dtype ${info.dtype}; SAE weights must be floating point`);
      return file.readFloat32(tensorName);
    };
    if (!names.has("W_enc")) throw new SAEFileError(`${weightsPath}: no tensor "W_enc"`);
    const shape = file.info("W_enc").shape;
    if (shape.length !== 2) throw new SAEFileError(`${weightsPath}: W_enc has shape [${shape.join(", ")}], expected [d_in, d_sae]`);
    const [dIn, dSae] = shape as [number, number];
    checkDims(reader, dIn, dSae, "W_enc");
    if (names.has("scaling_factor")) {
      const sf = tensor("scaling_factor", [dSae]);
      if (sf.some((v) => v !== 1)) throw new SAEFileError(`${weightsPath}: scaling_factor is not all ones; sae-seeds does not apply a fine-tuning scaling factor`);
    }
    // k: TopK's defining number (an integer); for other architectures only a record (BatchTopK's may be fractional).
    const rawK = cfg.k ?? (cfg.activation_fn_kwargs as { k?: unknown } | undefined)?.k ?? seeds.k;
    let fileK: number | undefined;
    if (rawK !== undefined && rawK !== null) {
      if (typeof rawK !== "number" || !(rawK >= 0)) reader.fail("k", `must be a non-negative number, got ${JSON.stringify(rawK)}`);
      if (arch.sparsity === "topk" && !Number.isSafeInteger(rawK)) reader.fail("k", `must be an integer for a TopK SAE, got ${rawK}`);
      fileK = rawK;
    }
    const k = resolveK(reader, arch, fileK, dSae, options, dir, name);

    const p = allocateParams(dIn, dSae);
    p.wEnc.set(transposeMatrix(tensor("W_enc", [dIn, dSae]), dIn, dSae));
    p.bEnc.set(tensor(arch.saelens.encoderBiasName, [dSae]));
    p.wDec.set(tensor("W_dec", [dSae, dIn]));
    p.bDec.set(tensor("b_dec", [dIn]));
    const extra = arch.saelens.read(cfg, tensor, { dIn, dSae });
    if (extra) p.extra = extra;
    if (rescale) foldDecoderNorms(p);

    let inputScale = 1;
    let rowNormalization: RowNormalization = "none";
    if (normalize === "expected_average_only_in") {
      const scalerPath = join(dir, ACTIVATION_SCALER_FILE);
      const factor = existsSync(scalerPath) ? readJson(scalerPath).scaling_factor : undefined;
      if (typeof factor !== "number" || !(factor > 0)) reader.fail("normalize_activations", `is expected_average_only_in but no scaling factor was found (SAELens keeps it in ${ACTIVATION_SCALER_FILE} beside the weights, or folds it with fold_activation_norm_scaling_factor)`);
      inputScale = factor as number;
    } else {
      rowNormalization = normalize;
    }
    const hook = fieldFromEither(cfg, ["hook_name", "hook_point"]);
    const model = fieldFromEither(cfg, ["model_name"]);
    const sae: SAE = { recipe: arch.recipe, k, params: p, inputScale, applyDecoderBiasToInput: applyBDec, rowNormalization };
    return { sae, format: "saelens", hookName: typeof hook === "string" ? hook : null, modelName: typeof model === "string" ? model : null, architecture: name, cfg };
  } finally {
    file.close();
  }
}

function loadSeedPlatformFile(dir: string, weightsPath: string, cfg: Record<string, unknown>, options: LoadOptions): LoadedSAE {
  const reader: CfgReader = new CfgReader(cfg, dir);
  const file = openSafetensors(weightsPath);
  try {
    const read = (name: string, shape: number[]) => {
      const info = file.info(name);
      if (info.shape.join(",") !== shape.join(",")) throw new SAEFileError(`${weightsPath}: ${name} has shape [${info.shape.join(", ")}], expected [${shape.join(", ")}]`);
      return file.readFloat32(name);
    };
    const [dSae, dIn] = file.info("encoder.weight").shape as [number, number];
    checkDims(reader, dIn, dSae, "encoder.weight");
    const fileK = reader.optionalInt("k") ?? reader.optionalInt("top_k");
    const k = resolveK(reader, ARCHITECTURES["seed-report"], fileK, dSae, options, dir, "seed-report");
    const p = allocateParams(dIn, dSae);
    p.wEnc.set(read("encoder.weight", [dSae, dIn]));
    p.bEnc.set(read("encoder.bias", [dSae]));
    p.wDec.set(transposeMatrix(read("decoder.weight", [dIn, dSae]), dIn, dSae));
    p.bDec.set(read("decoder.bias", [dIn]));
    return { sae: { recipe: "seed-report", k, params: p, inputScale: 1 }, format: "seed-platform", hookName: typeof cfg.hook_name === "string" ? cfg.hook_name : null, modelName: null, architecture: "seed-platform", cfg };
  } finally {
    file.close();
  }
}

/**
 * Load an SAE directory in either layout. `options` (or a number: k) supplies k for TopK files that do not carry
 * it; `decoderOnly` loads a TopK file without k for decoder-only uses (matching).
 */
export function loadSAE(dir: string, options: number | LoadOptions = {}): LoadedSAE {
  const opts: LoadOptions = typeof options === "number" ? { k: options } : options;
  const weightsPath = [SAE_WEIGHTS_FILE, "model.safetensors", "sae.safetensors"].map((f) => join(dir, f)).find(existsSync);
  if (!weightsPath) throw new SAEFileError(`${dir}: no ${SAE_WEIGHTS_FILE} (SAELens) or sae.safetensors/model.safetensors (seed platform) found`);
  const cfgPath = [SAE_CONFIG_FILE, "config.json"].map((f) => join(dir, f)).find(existsSync);
  const cfg = cfgPath ? readJson(cfgPath) : {};
  const probe = openSafetensors(weightsPath);
  const names = new Set(probe.names());
  probe.close();
  if (names.has("W_enc")) return loadSAELensFile(dir, weightsPath, cfg, opts);
  if (names.has("encoder.weight")) return loadSeedPlatformFile(dir, weightsPath, cfg, opts);
  throw new SAEFileError(`${weightsPath}: neither SAELens (W_enc, W_dec, b_dec, …) nor seed-platform (encoder.weight, decoder.weight, …) tensor names`);
}

/** The decoder (and everything else checked) of an SAE directory, without needing k: for dictionary matching. */
export function loadDecoder(dir: string): LoadedSAE {
  return loadSAE(dir, { decoderOnly: true });
}

/** Write an SAE in the seed platform's nn.Linear layout (for round-trips and for comparing with its outputs). */
export function saveSeedPlatform(dir: string, sae: SAE): void {
  if (sae.recipe !== "seed-report") throw new SAEFileError(`saveSeedPlatform: the seed platform's layout holds seed-report SAEs only, not ${sae.recipe}; use saveSAELens`);
  const { dIn, dSae, wEnc, bEnc, wDec, bDec } = sae.params;
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, "sae.safetensors"), {
    "encoder.weight": { dtype: "F32", shape: [dSae, dIn], data: wEnc },
    "encoder.bias": { dtype: "F32", shape: [dSae], data: bEnc },
    "decoder.weight": { dtype: "F32", shape: [dIn, dSae], data: transposeMatrix(wDec, dSae, dIn) },
    "decoder.bias": { dtype: "F32", shape: [dIn], data: bDec },
  });
  writeFileAtomic(join(dir, "config.json"), JSON.stringify({ d_in: dIn, d_sae: dSae, k: sae.k }, null, 2) + "\n");
}

/** Remove a directory if it exists (used to clear half-written runs). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
