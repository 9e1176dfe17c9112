/**
 * Public API of the matching module.
 * @module sae-seeds/match
 */
export * from "./assignment.ts";
export * from "./cosine.ts";
export * from "./summary.ts";
export * from "./align.ts";
export * from "./stats.ts";
