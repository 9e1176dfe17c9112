/**
 * SAELens's release table (`pretrained_saes.yaml`, which SAELens ships and sae-seeds does not: the user points at
 * one, or the CLI fetches it): release name → {repo_id, model, conversion_func, config_overrides, saes: [{id, path,
 * norm_scaling_factor, …}]}. A release's SAE is the folder `path` of the hub repository `repo_id`.
 *
 * What SAELens's `SAE.from_pretrained(release, sae_id)` does with an entry, and what sae-seeds does:
 *   conversion_func null (SAELens's own layout)  the folder holds cfg.json + sae_weights.safetensors: read by
 *       ./formats/saelens.ts, with the entry's config_overrides applied to cfg.json and its norm_scaling_factor
 *       folded in for normalize_activations expected_average_only_in — both recorded beside the files in
 *       saelens_release.json (the downloaded files stay as the hub has them).
 *   conversion_func dictionary_learning_1          the folder holds ae.pt + config.json: read by
 *       ./formats/dictionary_learning.ts with the class's own forward.
 *   conversion_func sparsify                       a sparsify hookpoint folder (./formats/sparsify.ts).
 *   any other conversion_func (gemma_2, llama_scope, connor_rob_hook_z, deepseek_r1, transcoders, …)
 *       files in another layout that SAELens converts with code of its own: refused in one line, naming it.
 */
import { resolve } from "node:path";
import type { PinnedCorpusFile } from "../data/study_corpus.ts";
import { SAEFileError } from "./formats/common.ts";

/**
 * The release table as SAELens 6.18.0 ships it, pinned by commit and sha256: what `download --saelens-release`
 * fetches when no --release-table is given (it is data, fetched at run time, never part of sae-seeds).
 */
export const PINNED_RELEASE_TABLE: PinnedCorpusFile = {
  name: "saelens-releases",
  repository: "jbloomAus/SAELens",
  commit: "91ca16ccd0684e4dd6323cd4f23ded734339ec54",
  path: "sae_lens/pretrained_saes.yaml",
  sha256: "e9c6b781e101e8dca150b52b99db4f0caf1e6b461da4ba7cfdabbbf2f2050b9c",
  bytes: 602553,
  lines: 14884,
  licence: "MIT (Copyright (c) 2023 Joseph Bloom)",
};

/** Where the fetched table is kept (relative to the working directory, like weights/ and corpora/). */
export function storedReleaseTablePath(root = "saes"): string {
  return resolve(root, "pretrained_saes.yaml");
}

/** Written beside a downloaded release's files: the table entry the SAELens reader applies. */
export const RELEASE_FILE = "saelens_release.json";
/** The release tables' conversion functions whose files sae-seeds reads. */
export const READABLE_CONVERSIONS = [null, "dictionary_learning_1", "sparsify"] as const;

/** One SAE of a release, as the table describes it. */
export interface SAELensReleaseSAE {
  release: string;
  saeId: string;
  repoId: string;
  /** The SAE's folder inside the repository. */
  path: string;
  model: string | null;
  conversionFunc: string | null;
  configOverrides: Record<string, unknown>;
  normScalingFactor: number | null;
  neuronpedia: string | null;
}

/** A release table, release or SAE id that is missing or malformed, or a release in a layout sae-seeds does not read. */
export class ReleaseTableError extends Error {
  override name = "ReleaseTableError";
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The entry for (release, sae id) of a parsed release table; every problem is one line naming the fix. */
export function resolveRelease(table: unknown, release: string, saeId: string, source: string): SAELensReleaseSAE {
  if (!isObject(table)) throw new ReleaseTableError(`${source}: not a SAELens release table (a mapping of release names)`);
  const entry = table[release];
  if (entry === undefined) {
    const near = Object.keys(table).filter((r) => r.includes(release) || release.includes(r)).slice(0, 8);
    throw new ReleaseTableError(`${source}: no release "${release}"${near.length ? ` (similar: ${near.join(", ")})` : ""}; it has ${Object.keys(table).length} releases`);
  }
  if (!isObject(entry)) throw new ReleaseTableError(`${source}: release "${release}" is not a mapping`);
  const repoId = entry.repo_id;
  if (typeof repoId !== "string" || !/^[\w.-]+\/[\w.-]+$/.test(repoId)) throw new ReleaseTableError(`${source}: release "${release}" has no valid repo_id (got ${JSON.stringify(repoId)})`);
  const saes = entry.saes;
  if (!Array.isArray(saes)) throw new ReleaseTableError(`${source}: release "${release}" has no saes list`);
  const found = saes.find((s) => isObject(s) && s.id === saeId);
  if (!found) {
    const ids = saes.filter(isObject).map((s) => String(s.id));
    throw new ReleaseTableError(`${source}: release "${release}" has no SAE "${saeId}"; its ids: ${ids.slice(0, 10).join(", ")}${ids.length > 10 ? `, … (${ids.length} in all)` : ""}`);
  }
  const sae = found as Record<string, unknown>;
  if (typeof sae.path !== "string" || sae.path === "") throw new ReleaseTableError(`${source}: SAE "${saeId}" of "${release}" has no path`);
  const conversion = entry.conversion_func ?? null;
  if (conversion !== null && typeof conversion !== "string") throw new ReleaseTableError(`${source}: release "${release}" has conversion_func ${JSON.stringify(conversion)}`);
  if (!(READABLE_CONVERSIONS as readonly (string | null)[]).includes(conversion)) {
    throw new ReleaseTableError(`release "${release}" is stored in another layout that SAELens converts with its "${conversion}" loader, which sae-seeds does not read (it reads releases in SAELens's own layout, dictionary_learning_1 and sparsify); download the files and convert them with SAELens, then save them with SAE.save_model`);
  }
  const overrides = entry.config_overrides ?? {};
  if (!isObject(overrides)) throw new ReleaseTableError(`${source}: release "${release}" has config_overrides that are not a mapping`);
  const factor = sae.norm_scaling_factor ?? null;
  if (factor !== null && !(typeof factor === "number" && factor > 0)) throw new ReleaseTableError(`${source}: SAE "${saeId}" of "${release}" has norm_scaling_factor ${JSON.stringify(factor)}, expected a positive number`);
  const npId = isObject(entry.neuronpedia_id) ? entry.neuronpedia_id[saeId] : sae.neuronpedia;
  return {
    release, saeId, repoId, path: sae.path.replace(/\/+$/, ""), model: typeof entry.model === "string" ? entry.model : null,
    conversionFunc: conversion, configOverrides: overrides, normScalingFactor: factor as number | null,
    neuronpedia: typeof npId === "string" ? npId : null,
  };
}

/** What saelens_release.json holds (written beside a downloaded release's files). */
export interface ReleaseRecord {
  release: string;
  sae_id: string;
  repo_id: string;
  path: string;
  revision: string | null;
  conversion_func: string | null;
  config_overrides: Record<string, unknown>;
  norm_scaling_factor: number | null;
}

/** The saelens_release.json record of a resolved table entry. */
export function releaseRecord(r: SAELensReleaseSAE, revision: string | null): ReleaseRecord {
  return {
    release: r.release, sae_id: r.saeId, repo_id: r.repoId, path: r.path, revision, conversion_func: r.conversionFunc,
    config_overrides: r.configOverrides, norm_scaling_factor: r.normScalingFactor,
  };
}

/** Check a saelens_release.json read back from disk (strict: it decides how cfg.json is read). */
export function checkReleaseRecord(v: Record<string, unknown>, where: string): ReleaseRecord {
  const bad = (field: string) => new SAEFileError(`${where}: ${RELEASE_FILE} field "${field}" is missing or malformed; download the release again`);
  for (const f of ["release", "sae_id", "repo_id", "path"]) if (typeof v[f] !== "string") throw bad(f);
  if (!isObject(v.config_overrides)) throw bad("config_overrides");
  if (v.norm_scaling_factor !== null && !(typeof v.norm_scaling_factor === "number" && v.norm_scaling_factor > 0)) throw bad("norm_scaling_factor");
  return v as unknown as ReleaseRecord;
}
