/** Public API of the SAE module: architectures and recipes, the trainer, checkpoints, analysis, SAE files. */
export * from "./config.ts";
export * from "./sae.ts";
export * from "./adam.ts";
export * from "./train_step.ts";
export * from "./trainer.ts";
export * from "./checkpoint.ts";
export * from "./analysis.ts";
export * from "./io.ts";
export * from "./reference_check.ts";
