/**
 * Reading EleutherAI sparsify files (checked against sparsify 9d3b136: SparseCoder.save_to_disk / load_from_disk,
 * fused_encoder; and the older `sae` package's Sae, whose files have the same layout).
 *
 * A hookpoint folder holds `cfg.json` — SparseCoderConfig.to_dict() plus d_in: activation, expansion_factor,
 * normalize_decoder, num_latents, k, multi_topk, skip_connection, transcode (older files: signed) — and
 * `sae.safetensors` with the module's parameters: `encoder.weight` [d_sae, d_in], `encoder.bias` [d_sae], `W_dec`
 * [d_sae, d_in], `b_dec` [d_in] (and `W_skip` [d_in, d_in] with a skip connection). A repository holds one such
 * folder per hookpoint (e.g. `layers.6.mlp/`), often with the training run's `config.json` at the top.
 *
 * Forward (sparsify's encode/decode): pre = ReLU(encoder(x − b_dec)); the k largest of pre are kept (values and
 * indices); x̂ = Σ acts·W_dec[idx] + b_dec. That is sae-seeds' `topk` recipe exactly (ReLU before or after the
 * selection keeps the same active set and values), with d_sae = num_latents, or d_in·expansion_factor when
 * num_latents is 0. `normalize_decoder` and `multi_topk` only shape training and change nothing here.
 *
 * Refused, each in one line (what they compute is not a Top-K autoencoder, so reading them as one would be wrong):
 *   activation "groupmax"  the max of each of k contiguous groups of latents (4,086 of 4,096 rows differ from Top-K);
 *   transcode: true        a transcoder: it predicts a module's output, and does not subtract b_dec from its input;
 *   skip_connection: true  x̂ gains x·W_skipᵀ, a term sae-seeds' SAE does not have;
 *   signed: true           the old signed variant: top-k by |pre| with no ReLU.
 * Any cfg.json field sparsify never wrote is refused too, naming it.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { openSafetensors } from "../../gpt2/safetensors.ts";
import { ARCHITECTURES } from "../arch/registry.ts";
import { allocateParams } from "../params.ts";
import { CfgReader, readJson, refuseUnusedTensors, resolveK, SAEFileError, type LoadedSAE, type LoadOptions } from "./common.ts";

/** sparsify's file names. */
export const SPARSIFY_WEIGHTS_FILE = "sae.safetensors";
export const SPARSIFY_CONFIG_FILE = "cfg.json";

const KNOWN_FIELDS = new Set(["activation", "expansion_factor", "normalize_decoder", "num_latents", "k", "multi_topk", "skip_connection", "transcode", "signed", "d_in"]);

/** Is `dir` one sparsify hookpoint folder (cfg.json + sae.safetensors with sparsify's tensor names)? */
export function isSparsifyFolder(dir: string): boolean {
  const weights = join(dir, SPARSIFY_WEIGHTS_FILE);
  if (!existsSync(weights) || !existsSync(join(dir, SPARSIFY_CONFIG_FILE))) return false;
  const f = openSafetensors(weights);
  try {
    const names = new Set(f.names());
    return names.has("encoder.weight") && names.has("W_dec");
  } finally {
    f.close();
  }
}

/** The hookpoint folders of a sparsify repository (one per hookpoint), sorted naturally. */
export function sparsifyHookpoints(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((name) => statSync(join(dir, name)).isDirectory() && isSparsifyFolder(join(dir, name)))
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
}

/** Load one hookpoint folder, or the chosen (or only) hookpoint of a repository. */
export function loadSparsify(dir: string, options: LoadOptions): LoadedSAE {
  if (!isSparsifyFolder(dir)) {
    const hookpoints = sparsifyHookpoints(dir);
    if (hookpoints.length === 0) throw new SAEFileError(`${dir}: not a sparsify folder (cfg.json + sae.safetensors) nor a repository of them`);
    const chosen = options.hookpoint ?? (hookpoints.length === 1 ? hookpoints[0] : undefined);
    if (!chosen) throw new SAEFileError(`${dir}: a sparsify repository with ${hookpoints.length} hookpoints (${hookpoints.join(", ")}); choose one with --hookpoint`);
    if (!hookpoints.includes(chosen)) throw new SAEFileError(`${dir}: no hookpoint "${chosen}" (it has ${hookpoints.join(", ")})`);
    return loadSparsifyFolder(join(dir, chosen), options, dir);
  }
  if (options.hookpoint !== undefined && options.hookpoint !== basename(dir)) throw new SAEFileError(`${dir}: this is the sparsify hookpoint folder ${basename(dir)}, not ${options.hookpoint}; drop --hookpoint or point at the repository`);
  return loadSparsifyFolder(dir, options, join(dir, ".."));
}

function loadSparsifyFolder(dir: string, options: LoadOptions, repo: string): LoadedSAE {
  const cfg = readJson(join(dir, SPARSIFY_CONFIG_FILE));
  const reader: CfgReader = new CfgReader(cfg, dir);
  reader.onlyKnown(KNOWN_FIELDS, "sparsify");
  const activation = reader.optionalString("activation") ?? "topk";
  if (activation === "groupmax") reader.fail("activation", `is "groupmax" (the max of each of k groups of latents), which is not Top-K — read as Top-K nearly every row would encode differently — and sae-seeds does not implement it`);
  if (activation !== "topk") reader.fail("activation", `is "${activation}"; sparsify writes topk or groupmax`);
  if (reader.optionalBool("transcode")) reader.fail("transcode", "is true: a sparsify transcoder predicts a module's output from its input (no b_dec subtraction), which sae-seeds does not read as an autoencoder");
  if (reader.optionalBool("skip_connection")) reader.fail("skip_connection", "is true: the reconstruction gains x·W_skipᵀ, a term sae-seeds' SAE does not have, so it is refused rather than read without it");
  if (reader.optionalBool("signed")) reader.fail("signed", "is true: sparsify's old signed variant keeps the top k by |pre-activation| without a ReLU, which sae-seeds does not implement");
  reader.optionalBool("normalize_decoder");
  reader.optionalBool("multi_topk");
  const dIn = reader.optionalInt("d_in");
  if (dIn === undefined) reader.fail("d_in", "is missing (sparsify's save_to_disk always writes it)");
  const numLatents = reader.optionalInt("num_latents") ?? 0;
  const expansion = reader.optionalInt("expansion_factor") ?? 32;
  const dSaeCfg = numLatents > 0 ? numLatents : dIn * expansion;

  const weightsPath = join(dir, SPARSIFY_WEIGHTS_FILE);
  const file = openSafetensors(weightsPath);
  try {
    const names = new Set(file.names());
    const tensor = (name: string, shape: number[]) => {
      if (!names.has(name)) throw new SAEFileError(`${weightsPath}: no tensor "${name}", which a sparsify SAE has`);
      const info = file.info(name);
      if (info.shape.join(",") !== shape.join(",")) throw new SAEFileError(`${weightsPath}: ${name} has shape [${info.shape.join(", ")}], expected [${shape.join(", ")}] from cfg.json (d_in ${dIn}, ${numLatents > 0 ? `num_latents ${numLatents}` : `d_in × expansion_factor ${expansion}`})`);
      if (!["F32", "F16", "BF16", "F64"].includes(info.dtype)) throw new SAEFileError(`${weightsPath}: ${name} has dtype ${info.dtype}; SAE weights must be floating point`);
      return file.readFloat32(name);
    };
    const encShape = names.has("encoder.weight") ? file.info("encoder.weight").shape : [];
    if (encShape.length === 2 && encShape[1] !== dIn) reader.fail("d_in", `is ${dIn} but encoder.weight holds d_in = ${encShape[1]}; fix cfg.json or the weights`);
    if (encShape.length === 2 && encShape[0] !== dSaeCfg) {
      reader.fail(numLatents > 0 ? "num_latents" : "expansion_factor", `gives d_sae = ${dSaeCfg} but encoder.weight has ${encShape[0]} latents; fix cfg.json or the weights`);
    }
    refuseUnusedTensors(weightsPath, names, new Set(["encoder.weight", "encoder.bias", "W_dec", "b_dec"]), "a sparsify Top-K SAE", "this file is not what its cfg.json says");
    const k = resolveK(reader, ARCHITECTURES.topk, reader.optionalInt("k") ?? 32, dSaeCfg, options, dir, "sparsify topk");
    const p = allocateParams(dIn, dSaeCfg);
    p.wEnc.set(tensor("encoder.weight", [dSaeCfg, dIn]));
    p.bEnc.set(tensor("encoder.bias", [dSaeCfg]));
    p.wDec.set(tensor("W_dec", [dSaeCfg, dIn]));
    p.bDec.set(tensor("b_dec", [dIn]));
    const top = existsSync(join(repo, "config.json")) ? readJson(join(repo, "config.json")) : {};
    return {
      sae: { recipe: "topk", k, params: p, inputScale: 1, applyDecoderBiasToInput: true },
      format: "sparsify", source: dir, hookName: basename(dir), modelName: typeof top.model === "string" ? top.model : null, architecture: "topk", cfg,
    };
  } finally {
    file.close();
  }
}
