/**
 * GPT-2's parameters (and their gradients, and AdamW's moments) as ONE flat Float32Array with named views, in
 * the canonical order of `expectedParameters` (the order files are written and hashed in).
 *
 * One buffer means the optimiser, gradient clipping and checkpointing are single loops over contiguous memory,
 * and the views are ordinary `GPT2Weights`, so the inference forward (../model.ts), the checkpoint writer and the
 * loader work on a model while it trains without a copy.
 */
import { createHash } from "node:crypto";
import type { GPT2Config } from "../config.ts";
import { expectedParameters, mapCheckpoint, type GPT2Weights, type TensorSource } from "../weights.ts";

export interface ParamTensor {
  key: string;
  shape: number[];
  offset: number;
  size: number;
  /** AdamW weight decay applies to matrices (wte, wpe, the four linear weights), not to biases or LN gains. */
  decay: boolean;
}

export interface ParamLayout {
  config: GPT2Config;
  tensors: ParamTensor[];
  total: number;
}

/** Where every GPT-2 tensor sits in the flat parameter vector, and its shape. */
export function paramLayout(config: GPT2Config): ParamLayout {
  let offset = 0;
  const tensors = expectedParameters(config).map(({ key, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = { key, shape, offset, size, decay: shape.length >= 2 };
    offset += size;
    return t;
  });
  return { config, tensors, total: offset };
}

/** `GPT2Weights` whose every tensor is a view into `flat` (parameters or gradients: same layout). */
export function viewsOf(layout: ParamLayout, flat: Float32Array): GPT2Weights {
  if (flat.length !== layout.total) throw new Error(`parameter buffer has ${flat.length} values, the layout needs ${layout.total}`);
  const byKey = new Map(layout.tensors.map((t) => [t.key, t]));
  const source: TensorSource = {
    names: () => [...byKey.keys()],
    shape: (name) => byKey.get(name)!.shape,
    read: (name) => {
      const t = byKey.get(name)!;
      return flat.subarray(t.offset, t.offset + t.size);
    },
  };
  return mapCheckpoint(source, layout.config, "training parameters");
}

/** Copy any GPT2Weights (e.g. `randomGPT2Weights`) into a fresh flat buffer. */
export function flatten(layout: ParamLayout, weights: GPT2Weights): Float32Array {
  const flat = new Float32Array(layout.total);
  const views = viewsOf(layout, flat);
  views.wte.set(weights.wte);
  views.wpe.set(weights.wpe);
  views.lnfWeight.set(weights.lnfWeight);
  views.lnfBias.set(weights.lnfBias);
  views.blocks.forEach((b, i) => {
    for (const field of Object.keys(b) as (keyof typeof b)[]) b[field].set(weights.blocks[i]![field]);
  });
  return flat;
}

/** sha256 of the flat float32 buffer's bytes (little-endian): the identity of a set of trained weights. */
export function hashParams(flat: Float32Array): string {
  return createHash("sha256").update(new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength)).digest("hex");
}
