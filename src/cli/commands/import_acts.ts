/** `import-acts`: activations computed elsewhere (.npy, safetensors, a folder of shards) into the activation cache. */
import type { Command } from "../command.ts";
import { UsageError } from "../args.ts";
import { createProgress, type ProgressBar } from "../progress.ts";
import { importActivations } from "../../data/import_acts.ts";

export const importActsCommand: Command = {
  name: "import-acts",
  usage: "FILE_OR_FOLDER",
  summary: "Import activations computed elsewhere (.npy, .safetensors, a folder of shards) into the activation cache, so train, sweep --acts and stability run on them.",
  flags: {
    model: { type: "string", description: "the model that produced the activations, as you name it (recorded; required)" },
    "source-hook": { type: "string", description: "where in the model they were taken, as you name it (recorded; required), e.g. gpt_neox.layers.6" },
    tokens: { type: "string", description: "which tokens they are, in words (recorded; required), e.g. 'first 1M tokens of the Pile validation split'" },
    tensor: { type: "string", description: "which tensor of a .safetensors source (default: its only tensor)" },
    hook: { type: "string", description: "the name the cache gives the rows (default: the tensor's name, else --source-hook)" },
    "held-out-rows": { type: "int", min: 0, description: "last rows kept out of training for explained variance / FVU (default: 10%)" },
    "chunk-rows": { type: "int", min: 1, description: "rows per chunk file (default: about 64 MiB per chunk)" },
    out: { type: "string", description: "cache root", default: "cache" },
    json: { type: "boolean", description: "print the cache's manifest summary as JSON" },
  },
  async run({ flags, positionals }) {
    if (positionals.length !== 1) throw new UsageError("give one .npy or .safetensors file, or a folder of shards: import-acts FILE_OR_FOLDER --model … --source-hook … --tokens …");
    for (const f of ["model", "source-hook", "tokens"]) {
      if (flags[f] === undefined) throw new UsageError(`--${f} is required: say what produced the activations (it is recorded in the cache's manifest; sae-seeds cannot know it)`);
    }
    const bars = new Map<string, ProgressBar>();
    const cache = importActivations(flags.out as string, {
      source: positionals[0]!,
      tensor: flags.tensor as string | undefined,
      hook: flags.hook as string | undefined,
      description: { model: flags.model as string, hook: flags["source-hook"] as string, tokens: flags.tokens as string },
      heldOutRows: flags["held-out-rows"] as number | undefined,
      chunkRows: flags["chunk-rows"] as number | undefined,
      onProgress: (stage, done, total) => {
        if (!bars.has(stage)) bars.set(stage, createProgress(stage, total, stage === "hashing" ? "B" : "rows"));
        bars.get(stage)!.update(done);
      },
      log: (line) => console.error(line),
    });
    for (const b of bars.values()) b.done();
    const m = cache.manifest, imp = m.imported!;
    if (flags.json) {
      console.log(JSON.stringify({ dir: cache.dir, hook: m.hooks[0], rows: m.rows, heldOutRows: imp.heldOut.rows, dIn: m.dIn, chunks: m.chunks.length, contentSha256: m.contentSha256, sources: imp.sources, description: imp.description }));
      return;
    }
    console.log(cache.dir);
    console.error(`  ${m.rows} training rows + ${imp.heldOut.rows} held out, d_in ${m.dIn}, hook ${m.hooks[0]}, ${m.chunks.length + imp.heldOut.chunks.length} chunks, content sha256 ${m.contentSha256}`);
    for (const s of imp.sources) console.error(`  ${s.file}: ${s.bytes} bytes, sha256 ${s.sha256} (${s.layout}, shape [${s.shape.join(", ")}])`);
    console.error("  CE-loss and KL scores: unavailable for imported activations (they need the model's forward pass)");
  },
};
