/** `download`: fetch GPT-2 weights from the hub, verified, into weights/gpt2 (or --dir). */
import type { Command } from "../command.ts";
import { downloadModel, DEFAULT_HUB_URL } from "../../gpt2/hub.ts";
import { createProgress, type ProgressBar } from "../progress.ts";

export const downloadCommand: Command = {
  name: "download",
  summary: "Download GPT-2 (config.json + model.safetensors) from the Hugging Face hub, checking size and sha256.",
  flags: {
    model: { type: "string", description: "gpt2, gpt2-medium, gpt2-large or gpt2-xl (openai-community/<model>)", default: "gpt2" },
    dir: { type: "string", description: "target directory", default: "weights/gpt2" },
    "hub-url": { type: "string", description: "hub base URL", default: DEFAULT_HUB_URL },
  },
  async run({ flags }) {
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
