/**
 * Reading saprmarks/dictionary_learning files (checked against dictionary_learning 60ec6bf: dictionary.py, the
 * trainers' dictionary classes and `config` properties, training.py's saving, utils.load_dictionary).
 *
 * A trainer folder holds `ae.pt` — torch.save of the dictionary's state dict, read by the code-free reader
 * (../../gpt2/torch_zip.ts) — and `config.json` = {"trainer": trainer.config, "buffer": …}, whose `dict_class`
 * names the class. Each class maps onto a sae-seeds architecture with the class's own forward:
 *
 *   AutoEncoder (Standard, StandardTrainerAprilUpdate, PAnneal): bias, encoder.{weight,bias}, decoder.weight [d, n]
 *       f = ReLU(encoder(x − bias)), x̂ = decoder(f) + bias → relu-l1. Loaded as load_dictionary loads it:
 *       from_pretrained(normalize_decoder=True) rescales every latent to a unit decoder column (encoder rows and
 *       bias × ‖column‖), so activations are those of the normalised dictionary (reconstructions are unchanged).
 *   AutoEncoderNew: encoder.{weight,bias}, decoder.{weight,bias}; f = ReLU(encoder(x)), no bias subtraction → relu-l1.
 *   GatedAutoEncoder: decoder_bias, encoder.weight (no bias), r_mag, gate_bias, mag_bias, decoder.weight → gated.
 *   JumpReluAutoEncoder: W_enc [d, n], b_enc, W_dec [n, d], b_dec, threshold; f = ReLU(pre·[pre > θ]) with
 *       pre = x·W_enc + b_enc — b_dec is NOT subtracted (apply_b_dec_to_input is False and is not saved) → jumprelu.
 *   AutoEncoderTopK: encoder.{weight,bias}, decoder.weight, b_dec, k, threshold; f = TopK(ReLU(encoder(x − b_dec)))
 *       (the default encode; the threshold buffer is used only on request) → topk.
 *   BatchTopKSAE: as TopK, but encode's default is the one scalar `threshold`: f = ReLU(pre)·[ReLU(pre) > θ]
 *       → batchtopk with θ for every latent.
 *   MatryoshkaBatchTopKSAE: W_enc, b_enc, W_dec, b_dec, k, threshold, group_sizes; as BatchTopK with every group
 *       active (as from_pretrained leaves it) → matryoshka-batchtopk.
 * `k` is stored both as a tensor and in config.json (trainer.k): they must agree. activation_dim and dict_size must
 * match the tensors; any tensor a class does not have is refused, naming it. dictionary_learning's training
 * backup (an ae.pt holding {"step", "ae", "optimizer", "config", …}, written while training runs) is refused: its
 * weights are in the normalised space and the run did not finish.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { readTorchStateDict, type TorchTensor } from "../../gpt2/torch_zip.ts";
import { PickleDict, type PickleValue } from "../../gpt2/torch_pickle.ts";
import type { Recipe } from "../config.ts";
import { allocateParams, type SAEParams } from "../params.ts";
import type { SAE } from "../sae.ts";
import { CfgReader, foldDecoderNorms, readJson, refuseUnusedTensors, SAEFileError, transposeMatrix, type LoadedSAE, type LoadOptions } from "./common.ts";

/** dictionary_learning's file names. */
export const DICTIONARY_LEARNING_WEIGHTS_FILE = "ae.pt";
export const DICTIONARY_LEARNING_CONFIG_FILE = "config.json";

interface ClassLayout {
  recipe: Recipe;
  /** Every tensor the class's state dict holds (optional ones marked). */
  tensors: readonly string[];
  optional?: readonly string[];
  /** Whether the state dict's weights are stored latent-major (W_dec [n, d]) or as nn.Linear weights. */
  read(t: (name: string, shape: number[]) => Float32Array, dims: { dIn: number; dSae: number }, p: SAEParams): void;
  subtractsDecoderBias: boolean;
  /** k (tensor and/or config) is part of the class. */
  hasK: boolean;
}

const linearLayout = (decoderBias: string, extra: (t: (n: string, s: number[]) => Float32Array, d: { dIn: number; dSae: number }, p: SAEParams) => void = () => {}) =>
  (t: (n: string, s: number[]) => Float32Array, { dIn, dSae }: { dIn: number; dSae: number }, p: SAEParams) => {
    p.wEnc.set(t("encoder.weight", [dSae, dIn]));
    p.wDec.set(transposeMatrix(t("decoder.weight", [dIn, dSae]), dIn, dSae));
    p.bDec.set(t(decoderBias, [dIn]));
    extra(t, { dIn, dSae }, p);
  };

const CLASSES: Record<string, ClassLayout> = {
  AutoEncoder: {
    recipe: "relu-l1", tensors: ["bias", "encoder.weight", "encoder.bias", "decoder.weight"], subtractsDecoderBias: true, hasK: false,
    read: linearLayout("bias", (t, { dSae }, p) => p.bEnc.set(t("encoder.bias", [dSae]))),
  },
  AutoEncoderNew: {
    recipe: "relu-l1", tensors: ["encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"], subtractsDecoderBias: false, hasK: false,
    read: linearLayout("decoder.bias", (t, { dSae }, p) => p.bEnc.set(t("encoder.bias", [dSae]))),
  },
  GatedAutoEncoder: {
    recipe: "gated", tensors: ["decoder_bias", "encoder.weight", "r_mag", "gate_bias", "mag_bias", "decoder.weight"], subtractsDecoderBias: true, hasK: false,
    read: linearLayout("decoder_bias", (t, { dSae }, p) => {
      p.bEnc.set(t("gate_bias", [dSae]));
      p.extra = { rMag: t("r_mag", [dSae]), bMag: t("mag_bias", [dSae]) };
    }),
  },
  JumpReluAutoEncoder: {
    recipe: "jumprelu", tensors: ["W_enc", "b_enc", "W_dec", "b_dec", "threshold"], subtractsDecoderBias: false, hasK: false,
    read: (t, { dIn, dSae }, p) => {
      p.wEnc.set(transposeMatrix(t("W_enc", [dIn, dSae]), dIn, dSae));
      p.bEnc.set(t("b_enc", [dSae]));
      p.wDec.set(t("W_dec", [dSae, dIn]));
      p.bDec.set(t("b_dec", [dIn]));
      p.extra = { threshold: t("threshold", [dSae]) };
    },
  },
  AutoEncoderTopK: {
    recipe: "topk", tensors: ["encoder.weight", "encoder.bias", "decoder.weight", "b_dec"], optional: ["k", "threshold"], subtractsDecoderBias: true, hasK: true,
    read: linearLayout("b_dec", (t, { dSae }, p) => p.bEnc.set(t("encoder.bias", [dSae]))),
  },
  BatchTopKSAE: {
    recipe: "batchtopk", tensors: ["encoder.weight", "encoder.bias", "decoder.weight", "b_dec", "threshold"], optional: ["k"], subtractsDecoderBias: true, hasK: true,
    read: linearLayout("b_dec", (t, { dSae }, p) => {
      p.bEnc.set(t("encoder.bias", [dSae]));
      p.extra = { threshold: new Float32Array(dSae).fill(t("threshold", [])[0]!) };
    }),
  },
  MatryoshkaBatchTopKSAE: {
    recipe: "matryoshka-batchtopk", tensors: ["W_enc", "b_enc", "W_dec", "b_dec", "threshold", "group_sizes"], optional: ["k"], subtractsDecoderBias: true, hasK: true,
    read: (t, { dIn, dSae }, p) => {
      p.wEnc.set(transposeMatrix(t("W_enc", [dIn, dSae]), dIn, dSae));
      p.bEnc.set(t("b_enc", [dSae]));
      p.wDec.set(t("W_dec", [dSae, dIn]));
      p.bDec.set(t("b_dec", [dIn]));
      p.extra = { threshold: new Float32Array(dSae).fill(t("threshold", [])[0]!) };
    },
  },
};

/** Is `path` a dictionary_learning trainer folder (ae.pt + config.json) or an ae.pt / checkpoint file? */
export function isDictionaryLearning(path: string): boolean {
  if (existsSync(path) && statSync(path).isFile()) return path.endsWith(".pt");
  return existsSync(join(path, DICTIONARY_LEARNING_WEIGHTS_FILE));
}

/** What a training backup is, for the refusal (null when the checkpoint is not one). */
function describeBackup(root: PickleValue): string | null {
  if (!(root instanceof PickleDict) || !root.entries.has("ae") || !root.entries.has("optimizer")) return null;
  const step = root.entries.get("step");
  return `is dictionary_learning's training backup${typeof step === "number" ? ` (step ${step})` : ""}, written while training runs: its weights are in the normalised training space and the run did not finish; use the final ae.pt that training writes when it ends`;
}

/** Read a dictionary_learning trainer folder (or an ae.pt / checkpoints/ae_<step>.pt file) onto sae-seeds' SAE. */
export function loadDictionaryLearning(path: string, options: LoadOptions): LoadedSAE {
  const isFile = existsSync(path) && statSync(path).isFile();
  const weightsPath = isFile ? path : join(path, DICTIONARY_LEARNING_WEIGHTS_FILE);
  // A checkpoints/ae_<step>.pt file's config.json is one level up from its folder.
  const here = dirname(weightsPath);
  const cfgPath = [join(here, DICTIONARY_LEARNING_CONFIG_FILE), join(here, "..", DICTIONARY_LEARNING_CONFIG_FILE)].find(existsSync);
  if (!cfgPath) throw new SAEFileError(`${here}: no ${DICTIONARY_LEARNING_CONFIG_FILE} beside ${weightsPath}; dictionary_learning writes it with ae.pt and it names the dictionary class`);
  const config = readJson(cfgPath);
  const trainer = config.trainer;
  if (typeof trainer !== "object" || trainer === null || Array.isArray(trainer)) throw new SAEFileError(`${cfgPath}: no "trainer" object; dictionary_learning's config.json is {"trainer": {...}, "buffer": {...}}`);
  const cfg = trainer as Record<string, unknown>;
  const reader: CfgReader = new CfgReader(cfg, cfgPath, "config.json trainer");
  const dictClass = reader.optionalString("dict_class");
  if (dictClass === undefined) reader.fail("dict_class", "is missing; it names the dictionary class (AutoEncoder, AutoEncoderTopK, BatchTopKSAE, …)");
  const layout = CLASSES[dictClass];
  if (!layout) reader.fail("dict_class", `is "${dictClass}", which sae-seeds does not read (it reads ${Object.keys(CLASSES).join(", ")})`);

  const sd = readTorchStateDict(weightsPath, describeBackup);
  try {
    const names = new Set(sd.tensors.keys());
    const used = new Set<string>();
    const get = (name: string): TorchTensor => {
      const t = sd.tensors.get(name);
      if (!t) throw new SAEFileError(`${weightsPath}: no tensor "${name}", which a ${dictClass} has`);
      used.add(name);
      return t;
    };
    const tensor = (name: string, shape: number[]): Float32Array => {
      const t = get(name);
      if (t.shape.join(",") !== shape.join(",")) throw new SAEFileError(`${weightsPath}: ${name} has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
      if (!["F32", "F16", "BF16", "F64"].includes(t.dtype)) throw new SAEFileError(`${weightsPath}: ${name} has dtype ${t.dtype}; SAE weights must be floating point`);
      return t.readFloat32();
    };
    for (const name of layout.tensors) get(name);
    for (const name of layout.optional ?? []) if (names.has(name)) used.add(name);
    refuseUnusedTensors(weightsPath, names, used, `a ${dictClass}`, `config.json's dict_class says ${dictClass}; this state dict is of another class`);

    // Dimensions from the encoder: nn.Linear weight [n, d], or W_enc [d, n].
    const enc = sd.tensors.get("encoder.weight") ?? sd.tensors.get("W_enc")!;
    if (enc.shape.length !== 2) throw new SAEFileError(`${weightsPath}: ${enc.name} has shape [${enc.shape.join(", ")}], expected a matrix`);
    const [dSae, dIn] = enc.name === "W_enc" ? [enc.shape[1]!, enc.shape[0]!] : [enc.shape[0]!, enc.shape[1]!];
    const cfgDIn = reader.optionalInt("activation_dim"), cfgDSae = reader.optionalInt("dict_size");
    if (cfgDIn !== undefined && cfgDIn !== dIn) reader.fail("activation_dim", `is ${cfgDIn} but ${enc.name} holds d_in = ${dIn}; fix config.json or the weights`);
    if (cfgDSae !== undefined && cfgDSae !== dSae) reader.fail("dict_size", `is ${cfgDSae} but ${enc.name} holds ${dSae} latents; fix config.json or the weights`);

    let k = 0;
    if (layout.hasK) {
      const cfgK = reader.optionalInt("k");
      let tensorK: number | undefined;
      if (names.has("k")) {
        const values = get("k").readIntegers();
        if (values.length !== 1) throw new SAEFileError(`${weightsPath}: k holds ${values.length} values, expected one`);
        tensorK = values[0];
      }
      if (cfgK !== undefined && tensorK !== undefined && cfgK !== tensorK) reader.fail("k", `is ${cfgK} but the state dict's k tensor is ${tensorK}; they must agree — fix config.json or the weights`);
      const fileK = tensorK ?? cfgK;
      if (fileK !== undefined && options.k !== undefined && options.k !== fileK) throw new SAEFileError(`${path}: the file says k = ${fileK} but --k ${options.k} was given; drop --k`);
      k = fileK ?? options.k ?? 0;
      if (k === 0 && !options.decoderOnly && layout.recipe === "topk") throw new SAEFileError(`${path}: this ${dictClass} records no k (neither a k tensor nor trainer.k); pass --k`);
      if (k !== 0 && !(k >= 1 && k <= dSae)) reader.fail("k", `is ${k}, outside 1..dict_size (${dSae})`);
    } else if (options.k !== undefined) {
      throw new SAEFileError(`${path}: --k applies to TopK SAEs only, and this is a ${dictClass}; drop --k`);
    }
    if (dictClass === "MatryoshkaBatchTopKSAE") {
      const groups = get("group_sizes").readIntegers();
      if (groups.some((g) => g <= 0) || groups.reduce((a, b) => a + b, 0) !== dSae) throw new SAEFileError(`${weightsPath}: group_sizes [${groups.join(", ")}] must be positive and sum to dict_size ${dSae}`);
    }

    const p = allocateParams(dIn, dSae);
    layout.read(tensor, { dIn, dSae }, p);
    // As load_dictionary loads an AutoEncoder: from_pretrained(normalize_decoder=True) — unit decoder columns.
    if (dictClass === "AutoEncoder") foldDecoderNorms(p);
    const sae: SAE = { recipe: layout.recipe, k, params: p, inputScale: 1, applyDecoderBiasToInput: layout.subtractsDecoderBias };
    const submodule = reader.optionalString("submodule_name");
    const layer = cfg.layer;
    return {
      sae, format: "dictionary_learning", source: path,
      hookName: submodule ?? (typeof layer === "number" ? `layer ${layer}` : null),
      modelName: reader.optionalString("lm_name") ?? null, architecture: dictClass, cfg: config,
    };
  } finally {
    sd.close();
  }
}
