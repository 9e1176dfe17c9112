/**
 * `replicate`: the seed study's table reproduced and then questioned.
 *   --faithful   only the faithful replication (the study's recipe, corpus, windowing and quirks)
 *   (default)    faithful (when the study's corpus is available) and corrected, printed beside the study's table
 *   --scale      the "publishable minimum" sweep (400 runs; resumable; `plan --preset scale` prices it)
 */
import { join } from "node:path";
import type { Command } from "../command.ts";
import { MODEL_FLAGS } from "../command.ts";
import { applyThreads, processCount, threadCount } from "../../study/threads.ts";
import { UsageError } from "../args.ts";
import { createProgress } from "../progress.ts";
import { correctedSpec, faithfulSpec, scaleSpec, studyLayer, STUDY_TABLE, STUDY_DEAD_FRACTION_LAYER0 } from "../../study/presets.ts";
import { runSweep } from "../../study/pipeline.ts";
import { buildStabilityReport, findRuns } from "../../study/stability.ts";
import { writeReport } from "../../study/report/write.ts";
import { loadModel, type LoadedModel } from "../../gpt2/loader.ts";
import { DEFAULT_HUB_URL } from "../../gpt2/hub.ts";
import { obtainModel } from "../../study/obtain_model.ts";
import type { StabilityReport } from "../../study/report/model.ts";
import type { SweepSpec } from "../../study/spec.ts";
import { CorpusDownloadError, DEFAULT_RAW_URL, downloadPinnedCorpus, isPinnedCopy, locateStudyCorpus, SEED_STUDY_CORPUS } from "../../data/study_corpus.ts";

/**
 * The study's corpus for the faithful replication: --corpus, else corpora/seed-study/, else ../shared, else a
 * download from the pinned commit (unless offline). null (with one line said) when it cannot be had and the
 * faithful part is optional; an error when --faithful asked for it.
 */
async function studyCorpus(flags: Record<string, unknown>, log: (line: string) => void): Promise<string | null> {
  const explicit = flags.corpus as string | undefined;
  const found = locateStudyCorpus(explicit);
  if (found) {
    if (found.origin === "explicit" && !isPinnedCopy(found.path)) {
      throw new UsageError(`${explicit} is not the seed study's corpus (its sha256 is not the pinned ${SEED_STUDY_CORPUS.sha256.slice(0, 12)}…); to run the study's recipe on other data use \`sweep --preset faithful --corpus ${explicit}\``);
    }
    return found.path;
  }
  const required = Boolean(flags.faithful);
  const skip = (why: string): null => {
    const message = `${why}; get it with \`npx tsx src/cli/main.ts download --corpus seed-study\` or pass --corpus PATH`;
    if (required) throw new Error(`the seed study's corpus is needed for --faithful: ${message}`);
    log(`faithful replication skipped: ${message}`);
    return null;
  };
  if (flags.offline) return skip("the seed study's corpus is not in corpora/seed-study/ or ../shared/data/seed-study/ and --offline forbids downloading it");
  try {
    const got = await downloadPinnedCorpus(SEED_STUDY_CORPUS, { rawUrl: flags["corpus-url"] as string });
    log(`seed study corpus: downloaded ${got.url} into ${got.path} (sha256 verified)`);
    return got.path;
  } catch (e) {
    if (!(e instanceof CorpusDownloadError)) throw e;
    return skip(e.message);
  }
}

function cell(report: StabilityReport | null, layer: number, features: number, k: number, mode: string): string {
  const c = report?.conditions.find((x) => x.layer === layer && x.features === features && x.k === k);
  const m = c?.modes.find((x) => x.mode === mode);
  if (!m) return "—".padEnd(26);
  const ci = m.median.ci ? ` [${m.median.ci.lo.toFixed(2)},${m.median.ci.hi.toFixed(2)}]` : "";
  return `${m.median.value.toFixed(3)}${ci} ${(100 * m.fractionAboveThreshold.value).toFixed(2)}%`.padEnd(26);
}

function deadAt(report: StabilityReport | null, layer: number): string {
  const cs = report?.conditions.filter((c) => c.layer === layer) ?? [];
  const runs = cs.flatMap((c) => c.runs);
  if (!runs.length) return "—";
  return `${(100 * runs.reduce((s, r) => s + r.deadFraction, 0) / runs.length).toFixed(0)}%`;
}

/**
 * Our numbers beside the study's table. On a model of another depth (`nLayer`), the study's layer L is read at the same
 * relative depth (studyLayer), and the rows say which layer that is.
 */
export function sideBySide(faithful: StabilityReport | null, corrected: StabilityReport | null, nLayer = 12): string {
  const rows = [
    ...STUDY_TABLE.map((r) => ({ ...r })),
    { layer: 6, features: 128, k: 8, mode: "full" as const, median: NaN, fraction: NaN },
    { layer: 6, features: 512, k: 32, mode: "full" as const, median: NaN, fraction: NaN },
  ];
  const lines = [
    "median matched cosine [95% CI over seeds], fraction ≥ 0.9",
    `${"condition".padEnd(30)} ${"study (published)".padEnd(20)} ${"faithful replication".padEnd(26)} ${"corrected (topk, Brown, masked)".padEnd(26)}`,
  ];
  for (const r of rows) {
    const study = Number.isNaN(r.median) ? "(not reported)" : `${r.median.toFixed(3)} ${(100 * r.fraction).toFixed(2)}%`;
    const ours = studyLayer(r.layer, nLayer);
    const label = `L${r.layer}${ours !== r.layer ? ` (our L${ours})` : ""} n${r.features} k${r.k} ${r.mode}`;
    lines.push(`${label.padEnd(30)} ${study.padEnd(20)} ${cell(faithful, ours, r.features, r.k, r.mode)} ${cell(corrected, ours, r.features, r.k, r.mode)}`);
  }
  lines.push(`${"dead features, layer 0".padEnd(30)} ${`≈${(100 * STUDY_DEAD_FRACTION_LAYER0).toFixed(0)}%`.padEnd(20)} ${deadAt(faithful, 0).padEnd(26)} ${deadAt(corrected, 0).padEnd(26)}`);
  for (const [name, rep] of [["faithful", faithful], ["corrected", corrected]] as const) {
    if (!rep) continue;
    const nulls = rep.conditions.flatMap((c) => c.modes.map((m) => `L${c.layer} n${c.features} ${m.mode}: null median ${m.median.nullMean?.toFixed(3) ?? "—"}, p ${m.median.pValue?.toFixed(3) ?? "—"}`));
    // With R draws the smallest possible Monte-Carlo p-value is 1/(R+1): say so, so p = 0.048 is read as "beat all 20".
    lines.push(`${name} null baselines (${rep.nullDraws} draws, smallest possible p ${(1 / (rep.nullDraws + 1)).toFixed(3)}): ${nulls.join("; ")}`);
    const quality = rep.conditions.filter((c) => c.quality).map((c) => `L${c.layer} n${c.features}: EV ${c.quality!.explainedVariance.value.toFixed(3)}, CE-loss score ${c.quality!.ceLossScore?.value.toFixed(3) ?? "unavailable"}`);
    if (quality.length) lines.push(`${name} quality on ${rep.conditions[0]!.quality?.tokens ?? 0} held-out tokens (mean over seeds): ${quality.join("; ")}`);
  }
  return lines.join("\n");
}

async function runAndReport(spec: SweepSpec, out: string, flags: Record<string, unknown>, model: LoadedModel): Promise<StabilityReport> {
  await runSweep(spec, {
    outDir: out, cacheDir: flags.cache as string, threads: threadCount(), quiet: Boolean(flags.quiet), progress: createProgress, model,
    processes: processCount(flags.processes as number | undefined),
  });
  const report = buildStabilityReport(findRuns([out]), {
    threshold: 0.9, bootstrap: flags.bootstrap as number, nullDraws: flags.null as number, rngSeed: 0, sharedThreshold: 0.7,
  }, `${spec.name}: ${model.label}`, flags.quiet ? () => {} : (s) => process.stderr.write(s + "\n"));
  writeReport(out, report);
  return report;
}

export const replicateCommand: Command = {
  name: "replicate",
  summary: "Reproduce the seed study's table (faithful), redo it the right way (corrected), print them side by side.",
  flags: {
    ...MODEL_FLAGS,
    faithful: { type: "boolean", description: "only the faithful replication" },
    scale: { type: "boolean", description: "the publishable-minimum sweep (400 runs, resumable)" },
    corpus: { type: "string", description: "the study's corpus (default: corpora/seed-study/, then ../shared/data/seed-study/, then a verified download)" },
    "corpus-url": { type: "string", description: "raw-file server for the corpus download", default: DEFAULT_RAW_URL },
    seeds: { type: "ints", min: 0, unique: true, description: "override the seeds (default 1-5; 1-20 with --scale)" },
    out: { type: "string", description: "output root", default: "runs/replicate" },
    cache: { type: "string", description: "activation cache root", default: "cache" },
    bootstrap: { type: "int", min: 0, description: "bootstrap resamples of seeds", default: 500 },
    null: { type: "int", min: 0, description: "random-dictionary null draws (more: `stability --null 200` on the run directories)", default: 20 },
    quiet: { type: "boolean", description: "no progress bars" },
    processes: { type: "int", min: 1, description: "runs trained at once, in worker processes (default: one per thread)" },
    offline: { type: "boolean", description: "without GPT-2 weights, do not try the hub: go straight to brown-gpt2-mini and its random control" },
    "hub-url": { type: "string", description: "hub base URL for the download", default: DEFAULT_HUB_URL },
  },
  async run({ flags }) {
    applyThreads(flags.threads as number | undefined);
    // The corpus first: it is cheap to look for, and --faithful without it should fail before loading a model.
    const corpus = flags.scale ? null : await studyCorpus(flags, (line) => process.stderr.write(line + "\n"));
    const obtained = await obtainModel({
      model: flags.model as string, weightsDir: flags.weights as string | undefined, download: !flags.offline,
      hubUrl: flags["hub-url"] as string, quiet: Boolean(flags.quiet), progress: createProgress, log: (line) => process.stderr.write(line + "\n"),
    });
    const seeds = flags.seeds as number[] | undefined;
    const root = flags.out as string;
    // The model, then (for brown-gpt2-mini) its random-weight control of the same shape: the field's comparison.
    const runs = [{ model: obtained.model, name: obtained.modelName }];
    if (obtained.control) runs.push({ model: await loadModel({ model: obtained.control }), name: obtained.control });
    for (const { model, name } of runs) {
      const nLayer = model.weights.config.nLayer;
      const withOverrides = (s: SweepSpec): SweepSpec => ({ ...s, model: name, ...(flags.weights && name === "gpt2" ? { weights: flags.weights as string } : {}), ...(seeds ? { seeds } : {}) });
      const tag = name === "gpt2" ? "" : `-${name}`;
      if (flags.scale) {
        const report = await runAndReport(withOverrides(scaleSpec(nLayer)), join(root, `scale${tag}`), flags, model);
        console.log(`scale sweep done on ${model.label}: ${report.conditions.length} conditions; report in ${join(root, `scale${tag}`, "report.html")}`);
        continue;
      }
      let faithful: StabilityReport | null = null;
      if (corpus) faithful = await runAndReport(withOverrides(faithfulSpec(corpus, nLayer)), join(root, `faithful${tag}`), flags, model);
      const corrected = flags.faithful ? null : await runAndReport(withOverrides(correctedSpec(nLayer)), join(root, `corrected${tag}`), flags, model);
      console.log(`\nmodel: ${model.label}`);
      console.log(sideBySide(faithful, corrected, nLayer));
      console.log(`reports: ${[faithful && join(root, `faithful${tag}`, "report.html"), corrected && join(root, `corrected${tag}`, "report.html")].filter(Boolean).join(", ")}`);
    }
  },
};
