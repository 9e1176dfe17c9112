/**
 * Public API of the SAE module: architectures and recipes, the trainer, checkpoints, analysis, quality metrics, SAE files.
 * @module sae-seeds/sae
 */
export * from "./config.ts";
export * from "./sae.ts";
export * from "./adam.ts";
export * from "./train_step.ts";
export * from "./trainer.ts";
export * from "./checkpoint.ts";
export * from "./analysis.ts";
export * from "./quality.ts";
export type { Architecture, Dims, ExtraParam, SAELensFormat, SAELensTensors } from "./arch/types.ts";
export type { SparsityControlState } from "./sparsity_control.ts";
export * from "./io.ts";
export * from "./hub_download.ts";
export * from "./saelens_releases.ts";
export * from "./reference_check.ts";
export * from "./training_curve.ts";
export * from "./held_out_frequency.ts";
