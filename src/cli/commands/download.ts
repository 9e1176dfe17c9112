/** `download`: fetch GPT-2 weights from the hub (verified) into weights/gpt2, or a pinned corpus into corpora/. */
import type { Command } from "../command.ts";
import { downloadModel, DEFAULT_HUB_URL } from "../../gpt2/hub.ts";
import { DEFAULT_RAW_URL, downloadPinnedCorpus, PINNED_CORPORA } from "../../data/study_corpus.ts";
import { UsageError } from "../args.ts";
import { createProgress, type ProgressBar } from "../progress.ts";

export const downloadCommand: Command = {
  name: "download",
  summary: "Download GPT-2 (config.json + model.safetensors) from the Hugging Face hub, or the seed study's corpus from its pinned commit; sizes and sha256 checked.",
  flags: {
    model: { type: "string", description: "gpt2, gpt2-medium, gpt2-large or gpt2-xl (openai-community/<model>)", default: "gpt2" },
    dir: { type: "string", description: "target directory", default: "weights/gpt2" },
    "hub-url": { type: "string", description: "hub base URL", default: DEFAULT_HUB_URL },
    corpus: { type: "string", description: `download a pinned corpus instead of weights: ${Object.keys(PINNED_CORPORA).join(", ")} (into corpora/<name>/)` },
    "corpus-url": { type: "string", description: "raw-file server for --corpus", default: DEFAULT_RAW_URL },
  },
  async run({ flags }) {
    if (flags.corpus !== undefined) {
      const file = PINNED_CORPORA[flags.corpus as string];
      if (!file) throw new UsageError(`unknown --corpus ${String(flags.corpus)}; pinned corpora: ${Object.keys(PINNED_CORPORA).join(", ")}`);
      const got = await downloadPinnedCorpus(file, { rawUrl: flags["corpus-url"] as string });
      console.log(`${got.path}: ${got.bytes} bytes, sha256 ${got.sha256} (${got.downloaded ? `downloaded from ${got.url}` : "already present"}, hash verified; ${file.repository}@${file.commit.slice(0, 12)}, ${file.licence})`);
      return;
    }
    const bars = new Map<string, ProgressBar>();
    const files = await downloadModel({
      model: flags.model as string, dir: flags.dir as string, hubUrl: flags["hub-url"] as string,
      onProgress: (file, done, total) => {
        if (!bars.has(file)) bars.set(file, createProgress(file, total, "B"));
        bars.get(file)!.update(done);
      },
    });
    for (const f of files) {
      bars.get(f.file)?.done();
      console.log(`${f.file}: ${f.bytes} bytes, sha256 ${f.sha256} (${f.downloaded ? "downloaded" : "already present"}, ${f.verifiedHash ? "hash verified" : "size verified"})`);
    }
  },
};
