/**
 * What `replicate` (and so `npm start`) runs on: GPT-2 from --weights / SAE_SEEDS_WEIGHTS / weights/gpt2; when no
 * weights are there, a download of GPT-2 small into weights/gpt2; when the hub cannot be reached either (these
 * machines are offline), one line saying so and brown-gpt2-mini, the small trained GPT-2 this repository ships —
 * with its random-weight control beside it (`control`), since a trained network is read against an untrained one of
 * the same shape. Every output is labelled with the model it describes.
 */
import { loadModel, MissingWeightsError, type LoadedModel } from "../gpt2/loader.ts";
import { downloadModel, DownloadError, DEFAULT_HUB_URL } from "../gpt2/hub.ts";
import { resolveWeightsDir } from "../gpt2/weights_location.ts";
import { progressBar, type ProgressBar, type ProgressFactory } from "./progress.ts";

export interface ObtainOptions {
  model: string;
  weightsDir?: string;
  /** Try the hub when no weights are found (default true; false = go straight to the random control). */
  download: boolean;
  hubUrl?: string;
  /** The hub's model name, openai-community/<name> (tests serve a tiny one). */
  hubModel?: string;
  quiet?: boolean;
  /** Bars for the download (the CLI passes its terminal bars; default: none). */
  progress?: ProgressFactory;
  /** Where the one-line notes go (what was looked for, what is used instead). */
  log: (line: string) => void;
}

export interface ObtainedModel {
  model: LoadedModel;
  /** "gpt2", or what was asked for, or "mini" when it fell back. */
  modelName: string;
  /** The random-network control to run beside it: for mini, random-mini (none for GPT-2 itself, as before). */
  control: string | null;
}

/** Trained models whose random control a replication runs beside them. */
const CONTROLS: Record<string, string> = { mini: "random-mini" };

/** The model a replication runs on: the one asked for, else a download of GPT-2 small, else brown-gpt2-mini with its control. */
export async function obtainModel(options: ObtainOptions): Promise<ObtainedModel> {
  try {
    return { model: await loadModel({ model: options.model, weightsDir: options.weightsDir }), modelName: options.model, control: CONTROLS[options.model] ?? null };
  } catch (e) {
    // Only the default case falls back: an explicit --weights DIR that is empty is a mistake to report.
    if (!(e instanceof MissingWeightsError) || options.model !== "gpt2" || options.weightsDir) throw e;
  }
  const dir = resolveWeightsDir();
  let why = `no GPT-2 weights in ${dir}`;
  if (options.download) {
    const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
    const bars = new Map<string, ProgressBar>();
    try {
      await downloadModel({
        model: options.hubModel ?? "gpt2", dir, hubUrl,
        onProgress: (file, done, total) => {
          if (options.quiet) return;
          if (!bars.has(file)) {
            if (bars.size === 0) options.log(`no GPT-2 weights in ${dir}; downloading openai-community/${options.hubModel ?? "gpt2"} from ${hubUrl} (verified by size and sha256)`);
            bars.set(file, progressBar(options.progress, false, file, total, "B"));
          }
          bars.get(file)!.update(done);
        },
      });
      for (const bar of bars.values()) bar.done();
      return { model: await loadModel({ model: "gpt2", weightsDir: dir }), modelName: "gpt2", control: null };
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      why += ` and the download failed (${e.message.split("; ")[0]})`;
    }
  }
  options.log(`${why}; running on --model mini, brown-gpt2-mini (the small GPT-2 trained by train-lm that ships in models/), beside its random-weight control --model random-mini — results describe that model, not GPT-2`);
  return { model: await loadModel({ model: "mini" }), modelName: "mini", control: "random-mini" };
}
