/**
 * sae-seeds as a library: each module under its own name (also importable directly as `sae-seeds/tensor`,
 * `sae-seeds/gpt2`, `sae-seeds/data`, `sae-seeds/sae`, `sae-seeds/match`, `sae-seeds/study`).
 * @module sae-seeds
 */
export * as tensor from "./tensor/index.ts";
export * as gpt2 from "./gpt2/index.ts";
export * as data from "./data/index.ts";
export * as sae from "./sae/index.ts";
export * as match from "./match/index.ts";
export * as study from "./study/index.ts";
