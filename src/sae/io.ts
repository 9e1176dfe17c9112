/**
 * SAE files.
 *
 * SAELens layout (what we write): a directory with `cfg.json` and `sae_weights.safetensors` holding
 * W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in] (float32). When the SAE was trained on
 * normalised inputs the scale is folded into the weights (W_enc·s, W_dec/s, b_dec/s) so the saved SAE works
 * on raw activations and `normalize_activations` is "none", as SAELens does when it folds its scaling factor.
 *
 * The seed study's platform layout (what we also read): PyTorch nn.Linear names — `encoder.weight` [d_sae, d_in],
 * `encoder.bias`, `decoder.weight` [d_in, d_sae], `decoder.bias` — with the seed-report recipe semantics.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openSafetensors, writeSafetensors } from "../gpt2/safetensors.ts";
import type { Recipe } from "./config.ts";
import { allocateParams, type SAE } from "./sae.ts";

export const SAE_WEIGHTS_FILE = "sae_weights.safetensors";
export const SAE_CONFIG_FILE = "cfg.json";

export interface SAEFileInfo {
  hookName: string;
  modelName: string;
  /** Anything else worth recording (seed, recipe settings, corpus, …), stored under cfg.sae_seeds. */
  extra?: Record<string, unknown>;
}

export class SAEFileError extends Error {
  override name = "SAEFileError";
}

function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

/** Transpose a row-major [rows, cols] matrix. */
export function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** Write an SAE in SAELens layout into `dir` (created if needed; files replaced atomically). */
export function saveSAELens(dir: string, sae: SAE, info: SAEFileInfo): void {
  const { dIn, dSae, wEnc, bEnc, wDec, bDec } = sae.params;
  const s = sae.inputScale;
  const foldedEnc = s === 1 ? wEnc : wEnc.map((v) => v * s);
  const foldedDec = s === 1 ? wDec : wDec.map((v) => v / s);
  const foldedBDec = s === 1 ? bDec : bDec.map((v) => v / s);
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, SAE_WEIGHTS_FILE), {
    W_enc: { dtype: "F32", shape: [dIn, dSae], data: transposeMatrix(foldedEnc, dSae, dIn) },
    b_enc: { dtype: "F32", shape: [dSae], data: bEnc },
    W_dec: { dtype: "F32", shape: [dSae, dIn], data: foldedDec },
    b_dec: { dtype: "F32", shape: [dIn], data: foldedBDec },
  }, { format: "sae_seeds/saelens" });
  const cfg = {
    architecture: "topk",
    d_in: dIn,
    d_sae: dSae,
    k: sae.k,
    activation_fn_str: sae.recipe === "topk" ? "topk" : "topk-no-relu",
    activation_fn_kwargs: { k: sae.k },
    apply_b_dec_to_input: sae.recipe === "topk",
    hook_name: info.hookName,
    hook_layer: Number(/^blocks\.(\d+)\./.exec(info.hookName)?.[1] ?? -1),
    model_name: info.modelName,
    normalize_activations: "none",
    dtype: "float32",
    device: "cpu",
    sae_seeds: { recipe: sae.recipe, input_scale_folded: s, ...info.extra },
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
  cfg: Record<string, unknown>;
}

/**
 * Load an SAE directory in either layout. `kOverride` supplies k for seed-platform files that carry no config.
 */
export function loadSAE(dir: string, kOverride?: number): LoadedSAE {
  const weightsPath = [SAE_WEIGHTS_FILE, "model.safetensors", "sae.safetensors"].map((f) => join(dir, f)).find(existsSync);
  if (!weightsPath) throw new SAEFileError(`${dir}: no ${SAE_WEIGHTS_FILE} (SAELens) or sae.safetensors/model.safetensors (seed platform) found`);
  const cfgPath = [SAE_CONFIG_FILE, "config.json"].map((f) => join(dir, f)).find(existsSync);
  const cfg = cfgPath ? readJson(cfgPath) : {};
  const file = openSafetensors(weightsPath);
  try {
    const names = new Set(file.names());
    const read = (name: string, shape: number[]) => {
      const info = file.info(name);
      if (info.shape.join(",") !== shape.join(",")) throw new SAEFileError(`${weightsPath}: ${name} has shape [${info.shape.join(", ")}], expected [${shape.join(", ")}]`);
      return file.readFloat32(name);
    };
    if (names.has("W_enc")) {
      const [dIn, dSae] = file.info("W_enc").shape as [number, number];
      const k = Number(cfg.k ?? (cfg.activation_fn_kwargs as { k?: number } | undefined)?.k ?? kOverride);
      if (!Number.isSafeInteger(k) || k <= 0) throw new SAEFileError(`${dir}: cfg.json gives no k; pass --k`);
      const extra = (cfg.sae_seeds ?? {}) as { recipe?: Recipe };
      const recipe: Recipe = extra.recipe ?? (cfg.apply_b_dec_to_input === false ? "seed-report" : "topk");
      const p = allocateParams(dIn, dSae);
      p.wEnc.set(transposeMatrix(read("W_enc", [dIn, dSae]), dIn, dSae));
      p.bEnc.set(read("b_enc", [dSae]));
      p.wDec.set(read("W_dec", [dSae, dIn]));
      p.bDec.set(read("b_dec", [dIn]));
      return { sae: { recipe, k, params: p, inputScale: 1 }, format: "saelens", hookName: typeof cfg.hook_name === "string" ? cfg.hook_name : null, cfg };
    }
    if (names.has("encoder.weight")) {
      const [dSae, dIn] = file.info("encoder.weight").shape as [number, number];
      const k = Number(cfg.k ?? cfg.top_k ?? kOverride);
      if (!Number.isSafeInteger(k) || k <= 0) throw new SAEFileError(`${dir}: seed-platform SAE files carry no k; pass --k`);
      const p = allocateParams(dIn, dSae);
      p.wEnc.set(read("encoder.weight", [dSae, dIn]));
      p.bEnc.set(read("encoder.bias", [dSae]));
      p.wDec.set(transposeMatrix(read("decoder.weight", [dIn, dSae]), dIn, dSae));
      p.bDec.set(read("decoder.bias", [dIn]));
      return { sae: { recipe: "seed-report", k, params: p, inputScale: 1 }, format: "seed-platform", hookName: typeof cfg.hook_name === "string" ? cfg.hook_name : null, cfg };
    }
    throw new SAEFileError(`${weightsPath}: neither SAELens (W_enc, W_dec, b_enc, b_dec) nor seed-platform (encoder.weight, decoder.weight, …) tensor names`);
  } finally {
    file.close();
  }
}

/** Write an SAE in the seed platform's nn.Linear layout (for round-trips and for comparing with its outputs). */
export function saveSeedPlatform(dir: string, sae: SAE): void {
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
