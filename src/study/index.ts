/**
 * Public API of the study pipeline, for scripts: sweep specs and presets, running a sweep, pricing it, the stability
 * report and its renderers, and the receipts every run directory carries.
 */
export * from "./spec.ts";
export * from "./presets.ts";
export * from "./pipeline.ts";
export * from "./run_one.ts";
export * from "./plan.ts";
export * from "./stability.ts";
export * from "./report/model.ts";
export { tableRows, renderMarkdown, renderHtml, type TableRow } from "./report/render.ts";
export { environmentRecord, writeManifest, verifyManifest, sha256OfFile, type EnvironmentRecord, type Manifest, type ManifestEntry } from "./receipts.ts";
