/**
 * A run's training curve, kept small (at most CURVE_POINTS points however long the run), and the convergence rule
 * reports apply to it.
 *
 * The steps of a run are cut into CURVE_POINTS equal buckets (known in advance: the run's total steps); each point is
 * a bucket's row-weighted mean FVU and L0. The accumulator lives in the training state, so a resumed run's curve is
 * the uninterrupted run's.
 *
 * Convergence (CONVERGENCE_RULE): a run has converged when it took at least MIN_STEPS optimizer steps and its FVU fell
 * by at most END_DROP (relative) over the last fifth of training — the mean FVU of the steps in (60%, 80%] of the run
 * against that of (80%, 100%]. Near-null stability from an SAE still improving is not a finding, so reports flag the
 * conditions whose runs fail the rule.
 */

export const CURVE_POINTS = 200;
export const MIN_STEPS = 200;
export const END_DROP = 0.02;
export const CONVERGENCE_RULE = `converged: at least ${MIN_STEPS} optimizer steps, and FVU fell by at most ${100 * END_DROP}% (relative) over the last fifth of training (mean FVU of steps in (60%, 80%] against (80%, 100%])`;

export interface CurvePoint {
  /** The bucket's last step (1-based optimizer step). */
  step: number;
  /** Row-weighted means over the bucket's steps. */
  fvu: number;
  l0: number;
}

/** The state of the curve while training (checkpointed with the training state). */
export interface CurveAccumulator {
  totalSteps: number;
  points: CurvePoint[];
  /** The current bucket's sums. */
  rows: number;
  fvu: number;
  l0: number;
}

/** An empty curve for a run of `totalSteps` optimizer steps. */
export function newCurve(totalSteps: number): CurveAccumulator {
  return { totalSteps, points: [], rows: 0, fvu: 0, l0: 0 };
}

/** The bucket (0-based) step `step` (1-based) falls in. */
function bucketOf(step: number, totalSteps: number): number {
  return Math.min(CURVE_POINTS - 1, Math.floor(((step - 1) * CURVE_POINTS) / Math.max(1, totalSteps)));
}

/** Add one step's statistics; closes the bucket when the next step belongs to another one (or this was the last). */
export function addStep(curve: CurveAccumulator, step: number, rows: number, fvu: number, l0: number): void {
  curve.rows += rows;
  curve.fvu += fvu * rows;
  curve.l0 += l0 * rows;
  const last = step >= curve.totalSteps || bucketOf(step + 1, curve.totalSteps) !== bucketOf(step, curve.totalSteps);
  if (last && curve.rows > 0) {
    curve.points.push({ step, fvu: curve.fvu / curve.rows, l0: curve.l0 / curve.rows });
    curve.rows = 0;
    curve.fvu = 0;
    curve.l0 = 0;
  }
}

export interface Convergence {
  steps: number;
  /** (mean FVU over (60%, 80%] − mean over (80%, 100%]) / the latter: how much the last fifth still improved. */
  endDrop: number;
  converged: boolean;
  rule: string;
}

/** The convergence rule applied to a finished run's curve. */
export function convergenceOf(points: readonly CurvePoint[], steps: number): Convergence {
  const window = (lo: number, hi: number) => points.filter((p) => p.step > lo * steps && p.step <= hi * steps);
  const mean = (ps: CurvePoint[]) => ps.reduce((s, p) => s + p.fvu, 0) / ps.length;
  const before = window(0.6, 0.8), last = window(0.8, 1);
  const endDrop = before.length && last.length ? (mean(before) - mean(last)) / mean(last) : NaN;
  return { steps, endDrop, converged: steps >= MIN_STEPS && endDrop <= END_DROP, rule: CONVERGENCE_RULE };
}
