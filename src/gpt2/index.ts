/**
 * Public API of the GPT-2 module: config, safetensors I/O, PyTorch checkpoints (read without running code),
 * weights, the forward pass with hooks, tokenizer, hub.
 * @module sae-seeds/gpt2
 */
export * from "./config.ts";
export * from "./safetensors.ts";
export * from "./weights.ts";
export * from "./checkpoint_writer.ts";
export * from "./random_model.ts";
export * from "./loader.ts";
export * from "./weights_location.ts";
export * from "./hooks.ts";
export * from "./model.ts";
export * from "./tokenizer.ts";
export * from "./hub.ts";
export * from "./torch_zip.ts";
export * from "./torch_pickle.ts";
export * from "./train/index.ts";
export * from "./decoder/config.ts";
export * from "./decoder/weights.ts";
export { decoderForward, UNEMBED_CHUNK_BYTES } from "./decoder/forward.ts";
export * from "./families/index.ts";
export type { CheckpointTensors, ExpectedTensor } from "./families/tensors.ts";
export type { MapOptions } from "./families/family.ts";
export * from "./checkpoint_files.ts";
export * from "./model_dir.ts";
export * from "./model_memory.ts";
export * from "./model_tokenizer.ts";
export * from "./random_checkpoint.ts";
