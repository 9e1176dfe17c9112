/**
 * Public API of the matching module.
 * @module sae-seeds/match
 */
export * from "./assignment.ts";
export * from "./cosine.ts";
export * from "./summary.ts";
export * from "./align.ts";
export * from "./stats.ts";
export * from "./shared_latents.ts";
export * from "./cross_seed.ts";
export * from "./subspace.ts";
export * from "./rank_correlation.ts";
