/**
 * Per-feature statistics over a set of rows: how often each latent fires, how strongly, whether it is dead
 * (and by which rule), and the contexts that activate it most — the material `feature_analysis.json` holds and
 * the report shows beside matched pairs.
 */
import type { SAE } from "./sae.ts";
import { architectureOf, encode, fires } from "./sae.ts";
import type { RowSource } from "../data/rows.ts";

export interface RowContext {
  documentId: string;
  position: number;
  /** A window of text around the token with the token itself marked, e.g. "… the «cat» sat …". */
  text: string;
}

export interface TopActivation {
  row: number;
  activation: number;
  context?: RowContext;
}

export interface FeatureStats {
  index: number;
  fireCount: number;
  frequency: number;
  maxActivation: number;
  /** Mean activation over the rows where the feature fires (0 when it never fires). */
  meanActivation: number;
  dead: boolean;
  topActivations: TopActivation[];
}

export interface FeatureAnalysis {
  recipe: string;
  rows: number;
  deadRule: string;
  deadCount: number;
  deadFraction: number;
  features: FeatureStats[];
}

export interface AnalysisOptions {
  /** How many top-activating rows to keep per feature. */
  topN?: number;
  batchSize?: number;
  /** Turns a row index into its text context (documents, positions); omitted contexts are left out. */
  describe?: (row: number) => RowContext;
}

/** The dead-latent rule of a recipe, in words, for this many rows. */
export function deadRuleFor(recipe: SAE["recipe"], rows: number): string {
  return architectureOf(recipe).deadRule(rows);
}

/** Keep the N largest (activation, row) pairs per feature; ties keep the earlier row. */
class TopList {
  readonly rows: number[] = [];
  readonly acts: number[] = [];
  constructor(private readonly n: number) {}

  offer(row: number, act: number): void {
    const { rows, acts } = this;
    if (acts.length === this.n && !(act > acts[acts.length - 1]!)) return;
    let pos = acts.length === this.n ? this.n - 1 : acts.length;
    if (acts.length < this.n) { acts.push(act); rows.push(row); }
    while (pos > 0 && act > acts[pos - 1]!) {
      acts[pos] = acts[pos - 1]!;
      rows[pos] = rows[pos - 1]!;
      pos--;
    }
    acts[pos] = act;
    rows[pos] = row;
  }
}

/** Each latent's firing frequency, dead latents by the recipe's rule, and the top-activating rows of the most frequent ones. */
export function analyseFeatures(sae: SAE, data: RowSource, options: AnalysisOptions = {}): FeatureAnalysis {
  const { dIn, dSae } = sae.params;
  if (data.dIn !== dIn) throw new Error(`analyseFeatures: rows have d_in ${data.dIn}, the SAE expects ${dIn}`);
  const topN = options.topN ?? 8;
  const batchSize = options.batchSize ?? 1024;
  const fireCount = new Float64Array(dSae);
  const sumAct = new Float64Array(dSae);
  const maxAct = new Float64Array(dSae).fill(-Infinity);
  const tops = Array.from({ length: dSae }, () => new TopList(topN));
  const batch = new Float32Array(batchSize * dIn);
  for (let start = 0; start < data.rows; start += batchSize) {
    const rows = Math.min(batchSize, data.rows - start);
    for (let i = 0; i < rows; i++) data.copyRow(start + i, batch, i * dIn);
    const code = encode(sae, batch.subarray(0, rows * dIn), rows);
    for (let r = 0; r < rows; r++) {
      for (let s = 0; s < code.k; s++) {
        const v = code.values[r * code.k + s]!;
        if (!fires(sae.recipe, v)) continue;
        const j = code.indices[r * code.k + s]!;
        fireCount[j]!++;
        sumAct[j] += v;
        if (v > maxAct[j]!) maxAct[j] = v;
        tops[j]!.offer(start + r, v);
      }
    }
  }
  const features: FeatureStats[] = [];
  let deadCount = 0;
  for (let j = 0; j < dSae; j++) {
    const count = fireCount[j]!;
    const dead = count === 0;
    if (dead) deadCount++;
    features.push({
      index: j,
      fireCount: count,
      frequency: data.rows > 0 ? count / data.rows : 0,
      maxActivation: dead ? 0 : maxAct[j]!,
      meanActivation: dead ? 0 : sumAct[j]! / count,
      dead,
      topActivations: tops[j]!.rows.map((row, i) => ({
        row,
        activation: tops[j]!.acts[i]!,
        ...(options.describe ? { context: options.describe(row) } : {}),
      })),
    });
  }
  return { recipe: sae.recipe, rows: data.rows, deadRule: deadRuleFor(sae.recipe, data.rows), deadCount, deadFraction: deadCount / dSae, features };
}

/** The live mask (1 = not dead) of an analysis, for live-only matching. */
export function liveMask(analysis: FeatureAnalysis): Uint8Array {
  return Uint8Array.from(analysis.features, (f) => (f.dead ? 0 : 1));
}
