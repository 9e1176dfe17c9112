/**
 * SAE files: writing (SAELens layout, the seed platform's layout) here; reading every supported library's files
 * in ./formats/ (one reader per library, ./formats/registry.ts detects which and dispatches), re-exported below.
 *
 * SAELens layout (what we write): a directory with `cfg.json` and `sae_weights.safetensors` holding
 * W_enc [d_in, d_sae], the encoder bias (b_enc; gated's b_gate), W_dec [d_sae, d_in], b_dec [d_in] and the
 * architecture's own tensors (jumprelu's threshold, gated's r_mag and b_mag), float32.
 *
 * cfg.json as written is readable by SAELens 6 and by SAELens ≤ 5: the v6 fields (d_in, d_sae, dtype, device,
 * apply_b_dec_to_input, normalize_activations, reshape_activations, metadata{sae_lens_version, model_name,
 * hook_name, …}, the architecture's fields, architecture) — `metadata.sae_lens_version` tells v6 to read them as
 * such — then the pre-6 fields v5 requires at top level (activation_fn_str, activation_fn_kwargs, model_name,
 * hook_name, hook_layer, hook_head_index, context_size, dataset_path, prepend_bos, …), then our own record under
 * `sae_seeds`. A trained SAE's input scale is folded into the weights (W_enc·s, W_dec/s, b_dec/s) so the file works
 * on raw activations and `normalize_activations` is "none", as SAELens does when it folds its scaling factor.
 *
 * The seed study's platform layout (written for round trips): PyTorch nn.Linear names — `encoder.weight`
 * [d_sae, d_in], `encoder.bias`, `decoder.weight` [d_in, d_sae], `decoder.bias` — with the seed-report recipe's
 * semantics.
 */
import { mkdirSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../data/json_files.ts";
import { join } from "node:path";
import { writeSafetensors } from "../gpt2/safetensors.ts";
import type { SAEParams } from "./params.ts";
import { architectureOf, subtractsDecoderBias, type SAE } from "./sae.ts";
import { SAE_CONFIG_FILE, SAE_WEIGHTS_FILE, SAEFileError, transposeMatrix } from "./formats/common.ts";

export { ACTIVATION_SCALER_FILE, SAE_CONFIG_FILE, SAE_WEIGHTS_FILE, SAEFileError, transposeMatrix, type LoadedSAE, type LoadOptions, type SAEFormat } from "./formats/common.ts";
export { detectSAEFormat, loadDecoder, loadSAE, type DetectedFormat } from "./formats/registry.ts";

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
