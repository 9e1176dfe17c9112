/**
 * Reading the seed study's platform layout: PyTorch nn.Linear names — `encoder.weight` [d_sae, d_in], `encoder.bias`,
 * `decoder.weight` [d_in, d_sae], `decoder.bias` — in sae.safetensors or model.safetensors, with the seed-report
 * recipe's semantics (Top-K without ReLU, no b_dec subtraction); k from config.json (`k` or `top_k`) or --k.
 */
import { openSafetensors } from "../../gpt2/safetensors.ts";
import { ARCHITECTURES } from "../arch/registry.ts";
import { allocateParams } from "../params.ts";
import { CfgReader, checkDims, refuseUnusedTensors, resolveK, SAEFileError, transposeMatrix, type LoadedSAE, type LoadOptions } from "./common.ts";

/** The tensor names of the layout. */
export const SEED_PLATFORM_TENSORS = ["encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"] as const;

/** Read the seed platform's nn.Linear layout as a seed-report SAE. */
export function loadSeedPlatformFile(dir: string, weightsPath: string, cfg: Record<string, unknown>, options: LoadOptions): LoadedSAE {
  const reader: CfgReader = new CfgReader(cfg, dir);
  const file = openSafetensors(weightsPath);
  try {
    const names = new Set(file.names());
    for (const name of SEED_PLATFORM_TENSORS) if (!names.has(name)) throw new SAEFileError(`${weightsPath}: no tensor "${name}", which the seed platform's layout (${SEED_PLATFORM_TENSORS.join(", ")}) needs`);
    refuseUnusedTensors(weightsPath, names, new Set(SEED_PLATFORM_TENSORS), "the seed platform's layout", "this is not a seed-platform file; check which library wrote it");
    const read = (name: string, shape: number[]) => {
      const info = file.info(name);
      if (info.shape.join(",") !== shape.join(",")) throw new SAEFileError(`${weightsPath}: ${name} has shape [${info.shape.join(", ")}], expected [${shape.join(", ")}]`);
      return file.readFloat32(name);
    };
    const encShape = file.info("encoder.weight").shape;
    if (encShape.length !== 2) throw new SAEFileError(`${weightsPath}: encoder.weight has shape [${encShape.join(", ")}], expected [d_sae, d_in]`);
    const [dSae, dIn] = encShape as [number, number];
    checkDims(reader, dIn, dSae, "encoder.weight");
    const fileK = reader.optionalInt("k") ?? reader.optionalInt("top_k");
    const k = resolveK(reader, ARCHITECTURES["seed-report"], fileK, dSae, options, dir, "seed-report");
    const p = allocateParams(dIn, dSae);
    p.wEnc.set(read("encoder.weight", [dSae, dIn]));
    p.bEnc.set(read("encoder.bias", [dSae]));
    p.wDec.set(transposeMatrix(read("decoder.weight", [dIn, dSae]), dIn, dSae));
    p.bDec.set(read("decoder.bias", [dIn]));
    return { sae: { recipe: "seed-report", k, params: p, inputScale: 1 }, format: "seed-platform", source: dir, hookName: typeof cfg.hook_name === "string" ? cfg.hook_name : null, modelName: null, architecture: "seed-platform", cfg };
  } finally {
    file.close();
  }
}

