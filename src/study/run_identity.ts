/**
 * A run's identity: everything that determines its result, and nothing else. Two runs with the same identity train
 * bit-identical SAEs (the determinism promise); a run directory records its identity in `identity.json`, and a sweep
 * reuses a finished run only when the identity it would give now is the same. Any difference — a hyper-parameter,
 * the recipe, the model's or the corpus's bytes, the windowing, the activations the run reads, or a version of the
 * code that computes differently — names the differing keys instead of reporting old results as new ones.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SAETrainConfig } from "../sae/config.ts";
import type { ResidualConvention } from "../gpt2/model.ts";

/**
 * Bump when a change to the code alters what a run computes from the same inputs (training maths, initialisation,
 * the forward pass, the order of rows). test/run_identity.test.ts pins the bytes of a small run to this number, so
 * such a change fails that test until the version is bumped and the pinned hash updated.
 *   1  the first recorded identities
 *   2  SAE architectures as modules with WebAssembly SIMD sparse products and a fused loss: topk and seed-report
 *      weights differ in the last bits (summation order), still deterministic and thread-count independent
 *   3  quality metrics on held-out tokens in metrics.json (the weights are those of version 2)
 *   4  two fixes in the sparse products (issue 17): a latent code reset and left unfilled (AuxK in a step with no dead
 *      latent) kept the previous batch's row pointers, so the encoder gradient read stale entries (or crashed with
 *      "memory access out of bounds"); and buffers allocated after the process's first matmul were not recognised
 *      as WebAssembly memory, so a process's first SAE took the scalar loops where later ones took the kernels.
 *      Runs that met neither are unchanged (the pinned run below is one), but a finished run cannot tell which.
 *   5  the findings (issue 21): every run records its training curve (training_curve.json), its convergence
 *      (metrics.json) and its latents' held-out firing frequencies (heldout_frequency.json), which reports need; the
 *      identity records the run's token budget. The weights are those of version 4 (the pinned hash is unchanged).
 */
export const RESULTS_VERSION = 5;

export const IDENTITY_FILE = "identity.json";

export interface RunIdentity {
  resultsVersion: number;
  model: { sha256: string };
  corpus: { sha256: string };
  windowing: { mode: string; seqLen: number; maxTokens: number };
  /**
   * The run's token budget: real tokens per pass asked for (its own on a token axis), the real tokens its rows hold
   * (fewer when the corpus is short and repeated), and the tokens seen in all.
   */
  budget: { tokensPerPass: number; realTokens: number; tokensSeen: number };
  includeSpecial: boolean;
  residual: ResidualConvention;
  hook: string;
  /** The content hash of the rows this run reads (its hook's tensors in every chunk, and the token windows). */
  activations: { sha256: string };
  /** How many of those rows it trains on (real tokens only, or BOS/padding too). */
  rows: number;
  /** The held-out windows its quality metrics are computed on (tokens 0: none). */
  evaluation: { tokens: number; windowsSha256: string | null };
  /** The resolved training configuration: recipe, sizes, seed and every hyper-parameter. */
  train: SAETrainConfig;
}

/** JSON with object keys sorted at every level, so equal identities always hash equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 of a run identity in its canonical form (what identity.json records and reuse compares). */
export function identityHash(identity: RunIdentity): string {
  return createHash("sha256").update(canonical(identity)).digest("hex");
}

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, value === undefined ? "(unset)" : JSON.stringify(value));
  }
}

const short = (v: string): string => (/^"[0-9a-f]{64}"$/.test(v) ? `${v.slice(1, 13)}…` : v);

/** "train.epochs 6 → 2" for every key whose value differs (keys in `ignore`, and their children, left out). */
export function identityDifferences(recorded: Partial<RunIdentity>, now: Partial<RunIdentity>, ignore: readonly string[] = []): string[] {
  const a = new Map<string, string>(), b = new Map<string, string>();
  flatten(recorded, "", a);
  flatten(now, "", b);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys
    .filter((k) => !ignore.some((i) => k === i || k.startsWith(`${i}.`)))
    .filter((k) => a.get(k) !== b.get(k))
    .map((k) => `${k} ${short(a.get(k) ?? "(absent)")} → ${short(b.get(k) ?? "(absent)")}`);
}

export interface RecordedIdentity {
  identity: RunIdentity;
  sha256: string;
}

/** The identity a run directory recorded, or null (no file: a run from before identities, or unfinished). */
export function readIdentity(dir: string): RecordedIdentity | null {
  const path = join(dir, IDENTITY_FILE);
  if (!existsSync(path)) return null;
  try {
    const recorded = JSON.parse(readFileSync(path, "utf8")) as RecordedIdentity;
    return recorded.identity && typeof recorded.sha256 === "string" ? recorded : null;
  } catch {
    return null;
  }
}
