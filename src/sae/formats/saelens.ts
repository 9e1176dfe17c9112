/**
 * Reading SAELens files: a directory with `cfg.json` and `sae_weights.safetensors` holding W_enc [d_in, d_sae], the
 * encoder bias (b_enc; gated's b_gate), W_dec [d_sae, d_in], b_dec [d_in] and the architecture's own tensors
 * (jumprelu's threshold, gated's r_mag and b_mag). Each architecture is read with its own math, chosen by cfg.json's
 * `architecture` (../arch/*.ts say which names they read); anything sae-seeds cannot compute exactly is refused in
 * one line rather than reinterpreted — and so is any tensor the architecture does not use (a JumpReLU file
 * relabelled `standard` would otherwise load with its thresholds silently ignored; SAELens 6 refuses it too).
 *
 * Conventions read, by SAELens version:
 *   6.x   `metadata{sae_lens_version, hook_name, model_name, …}`, `architecture` required, the architecture's fields
 *         at top level (topk's k, rescale_acts_by_decoder_norm).
 *   ≤ 5   `hook_name` (or the runner's `hook_point`), `activation_fn_str`/`activation_fn` with
 *         `activation_fn_kwargs` (TopK as activation_fn "topk" with a k, whatever `architecture` says), architecture
 *         defaulting to standard, `normalize_activations` as a boolean (v3–4: true = expected_average_only_in).
 *   all   `apply_b_dec_to_input`, `normalize_activations` none / constant_norm_rescale / layer_norm (applied per
 *         row) / expected_average_only_in (the factor from activation_scaler.json beside the weights),
 *         `rescale_acts_by_decoder_norm: true` (folded into the weights), JumpReLU `threshold` per latent, a
 *         BatchTopK training checkpoint's scalar `topk_threshold`, `scaling_factor` (must be all ones).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { openSafetensors } from "../../gpt2/safetensors.ts";
import { RECIPES, type Recipe } from "../config.ts";
import { ARCHITECTURES, architectureForSAELens } from "../arch/registry.ts";
import type { Architecture } from "../arch/types.ts";
import { allocateParams } from "../params.ts";
import type { RowNormalization, SAE } from "../sae.ts";
import { checkReleaseRecord, RELEASE_FILE } from "../saelens_releases.ts";
import { ACTIVATION_SCALER_FILE, CfgReader, checkDims, foldDecoderNorms, readJson, refuseUnusedTensors, resolveK, SAEFileError, transposeMatrix, type LoadedSAE, type LoadOptions } from "./common.ts";

const NORMALIZATIONS = ["none", "constant_norm_rescale", "layer_norm", "expected_average_only_in"] as const;
const DTYPES = ["float32", "float64", "float16", "bfloat16", "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16"];

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

/** Read a SAELens directory (cfg.json already parsed) onto sae-seeds' SAE, each architecture with its own math. */
export function loadSAELensFile(dir: string, weightsPath: string, fileCfg: Record<string, unknown>, options: LoadOptions): LoadedSAE {
  // A release downloaded with `download --saelens-release` carries the table's overrides and scaling factor beside
  // the files, applied here as SAE.from_pretrained applies them.
  const releasePath = join(dir, RELEASE_FILE);
  const release = existsSync(releasePath) ? checkReleaseRecord(readJson(releasePath), dir) : null;
  const cfg = release ? { ...fileCfg, ...release.config_overrides } : fileCfg;
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
    const used = new Set<string>();
    const tensor = (tensorName: string, shape: number[] | "scalar"): Float32Array => {
      used.add(tensorName);
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
    refuseUnusedTensors(weightsPath, names, used, `a ${name} SAE (cfg.json "architecture")`,
      `the architecture label contradicts the weights (SAELens refuses such a file too): fix cfg.json's "architecture" to the SAE these tensors make, or remove the tensors`);
    if (rescale) foldDecoderNorms(p);

    let inputScale = 1;
    let rowNormalization: RowNormalization = "none";
    if (normalize === "expected_average_only_in") {
      const scalerPath = join(dir, ACTIVATION_SCALER_FILE);
      const factor = release?.norm_scaling_factor ?? (existsSync(scalerPath) ? readJson(scalerPath).scaling_factor : undefined);
      if (typeof factor !== "number" || !(factor > 0)) reader.fail("normalize_activations", `is expected_average_only_in but no scaling factor was found (SAELens keeps it in ${ACTIVATION_SCALER_FILE} beside the weights, or in its release table's norm_scaling_factor, or folds it with fold_activation_norm_scaling_factor)`);
      inputScale = factor as number;
    } else {
      rowNormalization = normalize;
    }
    const hook = fieldFromEither(cfg, ["hook_name", "hook_point"]);
    const model = fieldFromEither(cfg, ["model_name"]);
    const sae: SAE = { recipe: arch.recipe, k, params: p, inputScale, applyDecoderBiasToInput: applyBDec, rowNormalization };
    return { sae, format: "saelens", source: dir, hookName: typeof hook === "string" ? hook : null, modelName: typeof model === "string" ? model : null, architecture: name, cfg };
  } finally {
    file.close();
  }
}

