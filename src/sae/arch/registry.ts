/**
 * Every SAE architecture, by recipe name. A new architecture is a new module beside these and one line here.
 */
import type { Recipe } from "../recipe.ts";
import type { Architecture } from "./types.ts";
import { topk } from "./topk.ts";
import { seedReport } from "./seed_report.ts";
import { reluL1 } from "./relu_l1.ts";
import { jumprelu } from "./jumprelu.ts";
import { batchtopk } from "./batchtopk.ts";
import { gated } from "./gated.ts";
import { matryoshka } from "./matryoshka.ts";

export const ARCHITECTURES: Readonly<Record<Recipe, Architecture>> = {
  "topk": topk,
  "seed-report": seedReport,
  "relu-l1": reluL1,
  "jumprelu": jumprelu,
  "batchtopk": batchtopk,
  "gated": gated,
  "matryoshka-batchtopk": matryoshka,
};

/**
 * The module that reads a SAELens cfg.json `architecture`: the first (in the order above) that writes it — so a
 * foreign `jumprelu` file is read by jumprelu, not by batchtopk, which also writes one — else one that also reads it.
 */
export function architectureForSAELens(name: string): Architecture | undefined {
  const all = Object.values(ARCHITECTURES);
  return all.find((a) => a.saelens.architecture === name) ?? all.find((a) => a.saelens.alsoReads?.includes(name));
}
