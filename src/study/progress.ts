/**
 * How the study layer reports progress on long jobs (building an activation cache, training a run, downloading a
 * model) without drawing anything itself: a caller passes a ProgressFactory, the CLI its terminal bars
 * (cli/progress.ts), a script whatever it likes. Without one, progress is silent (log lines still come).
 */
export interface ProgressBar {
  /** Progress so far (in the bar's unit) and an optional note. */
  update(done: number, extra?: string): void;
  /** The job has finished (with an optional closing note). */
  done(message?: string): void;
}

/** Makes the bar for one job: its label, its total, and the unit of both ("tok", "rows", "B"). */
export type ProgressFactory = (label: string, total: number, unit: string) => ProgressBar;

/** Silence, for library callers and tests. */
export const silentProgress: ProgressBar = { update() {}, done() {} };

/** The bar `progress` makes for a job, or silence when there is no factory or the caller asked for quiet. */
export function progressBar(progress: ProgressFactory | undefined, quiet: boolean | undefined, label: string, total: number, unit: string): ProgressBar {
  return quiet || !progress ? silentProgress : progress(label, total, unit);
}
