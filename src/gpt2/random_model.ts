/**
 * A seeded random GPT-2: the "random transformer" control condition of SAE studies (features an SAE finds on a
 * random network tell you what the method finds without any learned structure), and the stand-in that lets the
 * whole pipeline run — and be checked against PyTorch at full size — on machines that cannot download GPT-2.
 *
 * Initialisation follows GPT-2/Hugging Face: every weight N(0, 0.02²), the two residual-writing projections
 * (attn.c_proj, mlp.c_proj) N(0, (0.02/√(2·n_layer))²), biases 0, layer-norm gains 1. Each tensor draws from its
 * own named stream `gpt2-random/<key>`, so the values of one tensor do not depend on the order others are made.
 */
import { Rng } from "../tensor/rng.ts";
import type { GPT2Config } from "./config.ts";
import { expectedParameters, mapCheckpoint, type GPT2Weights, type TensorSource } from "./weights.ts";

export const RANDOM_MODEL_LABEL = "random GPT-2 (seeded control, NOT trained GPT-2)";

function initialValues(key: string, shape: number[], config: GPT2Config, seed: number): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  if (/ln_\d\.weight$|ln_f\.weight$/.test(key)) return data.fill(1);
  if (/\.bias$/.test(key)) return data; // zeros
  const std = /c_proj\.weight$/.test(key) ? 0.02 / Math.sqrt(2 * config.nLayer) : 0.02;
  Rng.stream(seed, `gpt2-random/${key}`).fillNormal(data, 0, std);
  return data;
}

/** Parameters of a freshly initialised GPT-2 with this config, reproducible from `seed`. */
export function randomGPT2Weights(config: GPT2Config, seed = 0): GPT2Weights {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const { key, shape } of expectedParameters(config)) tensors.set(key, { shape, data: initialValues(key, shape, config, seed) });
  const source: TensorSource = {
    names: () => [...tensors.keys()],
    shape: (name) => tensors.get(name)!.shape,
    read: (name) => tensors.get(name)!.data,
  };
  return mapCheckpoint(source, config, `random GPT-2 (seed ${seed})`);
}
