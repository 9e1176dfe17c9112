/**
 * Audit mode for SAE training: every step is computed a second time on the dense reference path — the codes as a
 * dense [rows, d_sae] matrix through the matmul kernel, no WebAssembly sparse kernels — from the same parameters,
 * batch, dead-latent mask and architecture buffers, and the two results must agree.
 *
 * Why this is a meaningful check: both paths share the encoder product and therefore every discrete choice (Top-K,
 * BatchTopK's cut, JumpReLU's and the gate's thresholds, AuxK's dead latents), so the same latents are active in
 * both; they differ only in how the sparse products are summed (four-lane float32 sums against the matmul's), which
 * moves the last bits. A stale index, an entry read from the wrong row, a partial batch read as a full one or a
 * kernel writing outside its buffer changes a gradient by far more than that, and is reported naming the step, the
 * tensor and the size of the difference.
 *
 * Cost: a second step per step (and the dense path's O(rows·d_sae·d) products): a test and audit tool, off by
 * default (TrainOptions.referenceCheck).
 */
import type { SAETrainConfig } from "./config.ts";
import type { SAEParams } from "./params.ts";
import type { StepStats, StepWorkspace } from "./step.ts";

export interface ReferenceCheckOptions {
  /**
   * Largest accepted |fast − reference| for a gradient tensor, relative to the larger of that tensor's largest
   * magnitude on the reference path and `floor` times the largest magnitude of any gradient tensor (default 2e-3:
   * the fuzzer's worst agreement over its shapes was far below it; see tools/fuzz.ts).
   */
  tolerance?: number;
  /** Differences are measured against at least this fraction of the largest gradient anywhere (default 1e-3). */
  floor?: number;
  /** Called after every checked step with the worst relative difference seen in it. */
  onStep?: (report: ReferenceStepReport) => void;
}

export interface ReferenceStepReport {
  step: number;
  /** max over tensors of |fast − reference| / scale. */
  worst: number;
  worstTensor: string;
}

/** A training step whose fast path disagrees with the dense reference path beyond tolerance (audit mode). */
export class ReferenceMismatchError extends Error {
  override name = "ReferenceMismatchError";
}

/** The gradients of a workspace by tensor name. */
function gradients(ws: StepWorkspace): [string, Float32Array][] {
  const g = ws.grads;
  return [["wEnc", g.wEnc], ["bEnc", g.bEnc], ["wDec", g.wDec], ["bDec", g.bDec], ...Object.entries(g.extra).map(([k, v]) => [`extra.${k}`, v] as [string, Float32Array])];
}

function maxAbs(a: Float32Array, length = a.length): number {
  let m = 0;
  for (let i = 0; i < length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m || v !== v) m = v;
  }
  return m;
}

/**
 * Compare a step computed on the fast path (`fast`, `fastStats`, `fastFired`) with the same step on the reference
 * path; throws ReferenceMismatchError when they disagree, returns the worst relative difference otherwise.
 */
export function compareWithReference(
  step: number, cfg: SAETrainConfig, p: SAEParams,
  fast: { ws: StepWorkspace; stats: StepStats; fired: Uint8Array; buffers: Record<string, number> },
  reference: { ws: StepWorkspace; stats: StepStats; fired: Uint8Array; buffers: Record<string, number> },
  options: ReferenceCheckOptions,
): ReferenceStepReport {
  const tolerance = options.tolerance ?? 2e-3;
  const floor = options.floor ?? 1e-3;
  const where = `SAE reference check at step ${step} (${cfg.recipe}, d_in ${p.dIn}, d_sae ${p.dSae}, k ${cfg.k})`;
  for (let j = 0; j < p.dSae; j++) {
    if (fast.fired[j] !== reference.fired[j]) throw new ReferenceMismatchError(`${where}: latent ${j} fired on one path and not the other`);
  }
  for (const key of Object.keys(reference.buffers)) {
    const a = fast.buffers[key]!, b = reference.buffers[key]!;
    if (!(Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-30))) throw new ReferenceMismatchError(`${where}: buffer ${key} is ${a} on the fast path, ${b} on the reference path`);
  }
  // A step that diverged on both paths is the trainer's to report (as divergence), not a disagreement.
  if (!Number.isFinite(fast.stats.loss) && !Number.isFinite(reference.stats.loss)) return { step, worst: 0, worstTensor: "" };
  for (const key of ["loss", "fvu", "auxLoss", "sparsityLoss", "l0"] as const) {
    const a = fast.stats[key], b = reference.stats[key];
    if (!Number.isFinite(a)) throw new ReferenceMismatchError(`${where}: ${key} is ${a} on the fast path, ${b} on the reference path`);
    if (!(Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-6))) throw new ReferenceMismatchError(`${where}: ${key} is ${a} on the fast path, ${b} on the reference path`);
  }
  const fastGrads = gradients(fast.ws), refGrads = new Map(gradients(reference.ws));
  let largest = 0;
  for (const [, g] of refGrads) largest = Math.max(largest, maxAbs(g));
  let worst = 0, worstTensor = "";
  for (const [name, a] of fastGrads) {
    const b = refGrads.get(name);
    if (!b || b.length !== a.length) throw new ReferenceMismatchError(`${where}: gradient ${name} exists on one path only`);
    const scale = Math.max(maxAbs(b), floor * largest, 1e-30);
    let diff = 0, at = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      if (d > diff || d !== d) { diff = d; at = i; }
    }
    const relative = diff / scale;
    if (!(relative <= tolerance)) {
      throw new ReferenceMismatchError(`${where}: gradient ${name}[${at}] is ${a[at]} on the fast path and ${b[at]} on the dense reference path (difference ${diff.toExponential(2)}, ${relative.toExponential(2)} of the tensor's scale ${scale.toExponential(2)}; tolerance ${tolerance})`);
    }
    if (relative > worst) { worst = relative; worstTensor = name; }
  }
  return { step, worst, worstTensor };
}
