/**
 * Public API of the data module: corpora, token windows, the activation cache, row sources, activations imported
 * from other models (.npy, safetensors, shards), the study's corpus.
 * @module sae-seeds/data
 */
export * from "./corpus.ts";
export * from "./brown.ts";
export * from "./study_corpus.ts";
export * from "./windows.ts";
export * from "./activation_cache.ts";
export * from "./rows.ts";
export * from "./npy.ts";
export * from "./activation_sources.ts";
export * from "./import_acts.ts";
export * from "./json_files.ts";
export * from "./lm_split.ts";
