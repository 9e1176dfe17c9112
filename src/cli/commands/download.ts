/**
 * `download`: fetch GPT-2 weights from the hub (verified) into weights/gpt2, any model repository (--model owner/name:
 * config, single or sharded safetensors, tokenizer; gated ones with HF_TOKEN) into weights/<owner>/<name>, a pinned
 * corpus into corpora/, an SAE
 * repository (sparsify, dictionary_learning, SAELens) into saes/<repo>, or one SAE of a SAELens release.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "../command.ts";
import { downloadModel, downloadRepo, isRepoId, repoDir, DEFAULT_HUB_URL, type DownloadedFile } from "../../gpt2/hub.ts";
import { DEFAULT_RAW_URL, downloadPinnedCorpus, isPinnedCopy, PINNED_CORPORA } from "../../data/study_corpus.ts";
import { downloadSAELensRelease, downloadSAERepo } from "../../sae/hub_download.ts";
import { PINNED_RELEASE_TABLE, storedReleaseTablePath } from "../../sae/saelens_releases.ts";
import { parseYamlSubset } from "../../study/yaml.ts";
import { UsageError } from "../args.ts";
import { createProgress, type ProgressBar } from "../progress.ts";

function progressBars() {
  const bars = new Map<string, ProgressBar>();
  return {
    onProgress: (file: string, done: number, total: number) => {
      if (!bars.has(file)) bars.set(file, createProgress(file, total, "B"));
      bars.get(file)!.update(done);
    },
    report(files: DownloadedFile[], dir?: string) {
      for (const f of files) {
        bars.get(f.file)?.done();
        console.log(`${dir ? join(dir, f.file) : f.file}: ${f.bytes} bytes, sha256 ${f.sha256} (${f.downloaded ? "downloaded" : "already present"}, ${f.verifiedHash ? "hash verified" : "size verified"})`);
      }
    },
  };
}

/** The release table: the user's file, else the pinned copy fetched once into saes/ (its sha256 checked). */
async function releaseTable(flags: Record<string, unknown>): Promise<{ table: unknown; source: string }> {
  let path = flags["release-table"] as string | undefined;
  if (path !== undefined) {
    if (!existsSync(path)) throw new UsageError(`--release-table ${path} does not exist; point at SAELens's sae_lens/pretrained_saes.yaml, or leave the flag out to fetch the pinned one`);
  } else {
    path = storedReleaseTablePath();
    if (!isPinnedCopy(path, PINNED_RELEASE_TABLE)) {
      const got = await downloadPinnedCorpus(PINNED_RELEASE_TABLE, { rawUrl: flags["corpus-url"] as string, target: path });
      console.error(`${got.path}: SAELens's release table, ${got.bytes} bytes, sha256 ${got.sha256} (downloaded from ${got.url}, hash verified; ${PINNED_RELEASE_TABLE.licence})`);
    }
  }
  return { table: parseYamlSubset(readFileSync(path, "utf8"), path, { names: "dotted" }), source: path };
}

export const downloadCommand: Command = {
  name: "download",
  summary: "Download GPT-2 from the hub, the seed study's corpus from its pinned commit, an SAE repository (--sae) or one SAE of a SAELens release (--saelens-release); sizes and sha256 checked.",
  flags: {
    model: { type: "string", description: "gpt2, gpt2-medium, gpt2-large or gpt2-xl (openai-community/<model>), or a model repository id such as EleutherAI/pythia-160m, HuggingFaceTB/SmolLM2-135M, meta-llama/Llama-3.2-1B, google/gemma-2-2b (config, single or sharded safetensors, tokenizer files; gated ones need HF_TOKEN) into weights/<owner>/<name>", default: "gpt2" },
    dir: { type: "string", description: "target directory", shownDefault: "weights/gpt2; with --sae or --saelens-release: saes/<repository>" },
    "hub-url": { type: "string", description: "hub base URL", default: DEFAULT_HUB_URL },
    corpus: { type: "string", description: `download a pinned corpus instead of weights: ${Object.keys(PINNED_CORPORA).join(", ")} (into corpora/<name>/)` },
    "corpus-url": { type: "string", description: "raw-file server for --corpus and the release table", default: DEFAULT_RAW_URL },
    sae: { type: "string", description: "download an SAE repository (sparsify: one folder per hookpoint; dictionary_learning: ae.pt + config.json folders; SAELens folders), e.g. EleutherAI/sae-pythia-160m-32k" },
    hookpoint: { type: "string", description: "with --sae: the folder to download (a hookpoint, or a folder of trainer folders)" },
    all: { type: "boolean", description: "with --sae: every SAE folder of the repository" },
    revision: { type: "string", description: "with --sae / --saelens-release: branch, tag or commit (default main)" },
    "saelens-release": { type: "string", description: "download one SAE of a SAELens release (its pretrained_saes.yaml names the repository and folder)" },
    "sae-id": { type: "string", description: "with --saelens-release: the SAE's id in the release, e.g. blocks.8.hook_resid_pre" },
    "release-table": { type: "string", description: "SAELens's pretrained_saes.yaml to read (default: fetch the pinned 6.18.0 table into saes/)" },
  },
  async run({ flags }) {
    const saeFlags = ["hookpoint", "all", "revision", "sae-id", "release-table"].filter((f) => flags[f] !== undefined);
    if (flags.sae === undefined && flags["saelens-release"] === undefined && saeFlags.length > 0) throw new UsageError(`--${saeFlags[0]} goes with --sae or --saelens-release`);
    if (flags.sae !== undefined && flags["saelens-release"] !== undefined) throw new UsageError("give --sae or --saelens-release, not both");
    if (flags.corpus !== undefined) {
      const file = PINNED_CORPORA[flags.corpus as string];
      if (!file) throw new UsageError(`unknown --corpus ${String(flags.corpus)}; pinned corpora: ${Object.keys(PINNED_CORPORA).join(", ")}`);
      const got = await downloadPinnedCorpus(file, { rawUrl: flags["corpus-url"] as string });
      console.log(`${got.path}: ${got.bytes} bytes, sha256 ${got.sha256} (${got.downloaded ? `downloaded from ${got.url}` : "already present"}, hash verified; ${file.repository}@${file.commit.slice(0, 12)}, ${file.licence})`);
      return;
    }
    const bars = progressBars();
    const hubUrl = flags["hub-url"] as string;
    const revision = flags.revision as string | undefined;
    if (flags.sae !== undefined) {
      const repo = flags.sae as string;
      if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new UsageError(`--sae ${repo} is not a hub repository name (owner/name)`);
      const dir = (flags.dir as string | undefined) ?? join("saes", repo);
      const got = await downloadSAERepo({ repo, dir, hubUrl, revision, hookpoint: flags.hookpoint as string | undefined, all: Boolean(flags.all), onProgress: bars.onProgress });
      bars.report(got.files, dir);
      console.log(`SAE folder${got.saeDirs.length > 1 ? "s" : ""}: ${got.saeDirs.join(" ")}`);
      return;
    }
    if (flags["saelens-release"] !== undefined) {
      if (flags["sae-id"] === undefined) throw new UsageError("--saelens-release needs --sae-id (the SAE's id in the release, e.g. blocks.8.hook_resid_pre)");
      const { table, source } = await releaseTable(flags);
      const release = flags["saelens-release"] as string;
      const dir = (flags.dir as string | undefined) ?? join("saes", release);
      const got = await downloadSAELensRelease({ table, tableSource: source, release, saeId: flags["sae-id"] as string, dir, hubUrl, revision, onProgress: bars.onProgress });
      bars.report(got.files, dir);
      console.log(`SAE folder: ${got.saeDirs[0]} (${got.repoId}/${got.path}; the release table's entry is in saelens_release.json beside it)`);
      return;
    }
    const dir = (flags.dir as string | undefined) ?? "weights/gpt2";
    const model = flags.model as string;
    if (isRepoId(model)) {
      const target = (flags.dir as string | undefined) ?? repoDir(model);
      const got = await downloadRepo(model, { dir: target, hubUrl, onProgress: bars.onProgress, ...(revision ? { revision } : {}) });
      bars.report(got.files, target);
      console.log(`${model} → ${target}: ${got.weights === "sharded" ? `${got.files.filter((f) => /^model-.*\.safetensors$/.test(f.file)).length} weight shards` : "one weight file"}, ${(got.bytes / 2 ** 20).toFixed(1)} MiB in ${got.files.length} files; run it with --model ${model}`);
      return;
    }
    const files = await downloadModel({ model, dir, hubUrl, onProgress: bars.onProgress });
    bars.report(files);
  },
};
