/**
 * Public API of the study layer (`sae-seeds/study`), for scripts: sweep specs and presets and the value rules that
 * check them, running a sweep (in one process or several) and training single runs, run identities, shards, status
 * and pricing, Slurm job files, the stability report with its renderers and writer, and the receipts every run
 * directory carries. The command line (`sae-seeds …`) is built on exactly this.
 * @module sae-seeds/study
 */
export { checkValue, ruleText, SettingsError, type FlagSpec, type FlagType, type FlagValue, type FlagValues } from "./value_rules.ts";
export * from "./spec.ts";
export * from "./presets.ts";
export * from "./pipeline.ts";
export * from "./training_run.ts";
export { sweepWorkerEntry, type WorkerEntry } from "./run_pool.ts";
export * from "./run_one.ts";
export * from "./run_identity.ts";
export * from "./shards.ts";
export * from "./status.ts";
export * from "./plan.ts";
export * from "./slurm.ts";
export * from "./stability.ts";
export * from "./foreign_saes.ts";
export * from "./threads.ts";
export * from "./progress.ts";
export * from "./obtain_model.ts";
export * from "./report/model.ts";
export { tableRows, qualityRows, architectureRows, renderMarkdown, renderHtml, type TableRow, type QualityRow, type ArchitectureRow } from "./report/render.ts";
export * from "./report/write.ts";
export { environmentRecord, writeManifest, verifyManifest, sha256OfFile, MANIFEST_FILE, type EnvironmentRecord, type Manifest, type ManifestEntry } from "./receipts.ts";
