/**
 * Which library wrote an SAE, and its reader. Every reader maps its files onto the same in-memory SAE
 * (../sae.ts), so encode/decode, matching, stability and the quality metrics work on any of them.
 *
 * Detection, in order (a path is a directory, or a file inside one):
 *   *.pt file, or a directory with ae.pt                        dictionary_learning (./dictionary_learning.ts)
 *   sae_weights.safetensors                                      SAELens (./saelens.ts)
 *   sae.safetensors / model.safetensors whose tensors are
 *     W_enc, …                                                   SAELens names in another file name (SAELens)
 *     encoder.weight and W_dec, with cfg.json                    sparsify hookpoint folder (./sparsify.ts)
 *     encoder.weight and decoder.weight                          the seed platform's layout (./seed_platform.ts)
 *   no weights, but sparsify hookpoint folders inside            a sparsify repository (one folder per hookpoint)
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { openSafetensors } from "../../gpt2/safetensors.ts";
import { readJson, SAE_CONFIG_FILE, SAE_WEIGHTS_FILE, SAEFileError, type LoadedSAE, type LoadOptions, type SAEFormat } from "./common.ts";
import { loadSAELensFile } from "./saelens.ts";
import { loadSeedPlatformFile } from "./seed_platform.ts";
import { isSparsifyFolder, loadSparsify, sparsifyHookpoints } from "./sparsify.ts";
import { isDictionaryLearning, loadDictionaryLearning } from "./dictionary_learning.ts";

/** Which reader a path needs, and what it should be given. */
export interface DetectedFormat {
  format: SAEFormat;
  /** The directory (or, for dictionary_learning checkpoints, the file) the reader gets. */
  path: string;
  /** The weights file, where the layout has one (SAELens, seed platform). */
  weightsPath?: string;
}

/** The format of the SAE at `path`, or a one-line error saying what was expected. */
export function detectSAEFormat(input: string): DetectedFormat {
  if (!existsSync(input)) throw new SAEFileError(`${input}: no such file or directory`);
  let path = input;
  if (statSync(input).isFile()) {
    if (input.endsWith(".pt")) return { format: "dictionary_learning", path: input };
    if (!input.endsWith(".safetensors")) throw new SAEFileError(`${input}: not an SAE file sae-seeds reads (a directory, an ae.pt, or a .safetensors file inside an SAE directory)`);
    path = dirname(input);
    if (basename(input) === "sae.safetensors" && isSparsifyFolder(path)) return { format: "sparsify", path };
  }
  if (isDictionaryLearning(path)) return { format: "dictionary_learning", path };
  const weightsPath = [SAE_WEIGHTS_FILE, "model.safetensors", "sae.safetensors"].map((f) => join(path, f)).find(existsSync);
  if (!weightsPath) {
    if (sparsifyHookpoints(path).length > 0) return { format: "sparsify", path };
    throw new SAEFileError(`${path}: no SAE files found — expected SAELens (${SAE_CONFIG_FILE} + ${SAE_WEIGHTS_FILE}), sparsify (cfg.json + sae.safetensors, or a repository of hookpoint folders), dictionary_learning (ae.pt + config.json) or the seed platform's sae.safetensors`);
  }
  const probe = openSafetensors(weightsPath);
  const names = new Set(probe.names());
  probe.close();
  if (names.has("W_enc")) return { format: "saelens", path, weightsPath };
  if (names.has("encoder.weight") && names.has("W_dec")) {
    if (!existsSync(join(path, "cfg.json"))) throw new SAEFileError(`${path}: sparsify tensor names (encoder.weight, W_dec) but no cfg.json; sparsify writes cfg.json beside sae.safetensors and it holds k`);
    return { format: "sparsify", path };
  }
  if (names.has("encoder.weight")) return { format: "seed-platform", path, weightsPath };
  throw new SAEFileError(`${weightsPath}: neither SAELens (W_enc, W_dec, b_dec, …), sparsify (encoder.weight, W_dec, b_dec) nor seed-platform (encoder.weight, decoder.weight, …) tensor names`);
}

/**
 * Load an SAE of any supported library. `options` (or a number: k) supplies k for TopK files that do not carry it;
 * `decoderOnly` loads a TopK file without k for decoder-only uses (matching); `hookpoint` picks a folder of a
 * sparsify repository.
 */
export function loadSAE(path: string, options: number | LoadOptions = {}): LoadedSAE {
  const opts: LoadOptions = typeof options === "number" ? { k: options } : options;
  const found = detectSAEFormat(path);
  if (opts.hookpoint !== undefined && found.format !== "sparsify") throw new SAEFileError(`${path}: --hookpoint picks a folder of a sparsify repository, and this is a ${found.format} SAE; drop --hookpoint`);
  switch (found.format) {
    case "dictionary_learning":
      return loadDictionaryLearning(found.path, opts);
    case "sparsify":
      return loadSparsify(found.path, opts);
    case "saelens":
    case "seed-platform": {
      const cfgPath = [SAE_CONFIG_FILE, "config.json"].map((f) => join(found.path, f)).find(existsSync);
      const cfg = cfgPath ? readJson(cfgPath) : {};
      return found.format === "saelens" ? loadSAELensFile(found.path, found.weightsPath!, cfg, opts) : loadSeedPlatformFile(found.path, found.weightsPath!, cfg, opts);
    }
  }
}

/** The decoder (and everything else checked) of an SAE, without needing k: for dictionary matching. */
export function loadDecoder(path: string, options: Omit<LoadOptions, "decoderOnly"> = {}): LoadedSAE {
  return loadSAE(path, { ...options, decoderOnly: true });
}
