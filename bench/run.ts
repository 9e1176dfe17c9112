/**
 * `npm run bench`: every performance number of the project as ONE flat JSON object on stdout.
 * Sections can be chosen with `--only matmul,gpt2,sae,hungarian,lm,families,relaxed`. Keys follow `tools/reference/bench_torch.py`
 * so `npm run bench:compare` can print ratios against PyTorch/scipy measured on the same machine.
 */
import { machineFacts, peakRssMb } from "./util.ts";
import { benchScalarMatmul } from "./matmul.ts";
import { benchWasmMatmul } from "./matmul_wasm.ts";
import { benchGPT2, benchSAE, benchHungarian } from "./models.ts";
import { benchLM } from "./lm.ts";
import { benchFamilies } from "./families.ts";
import { execFileSync } from "node:child_process";
import { shutdownThreads } from "../src/tensor/wasm/index.ts";

type Section = () => Promise<Record<string, number | string>>;

const quick = process.argv.includes("--quick");
const sections: Record<string, Section> = {
  matmul: async () => ({ ...(await benchScalarMatmul()), ...(await benchWasmMatmul()) }),
  gpt2: benchGPT2,
  sae: () => benchSAE(quick),
  hungarian: () => benchHungarian(quick ? [1024] : [1024, 4096]),
  lm: () => benchLM(quick),
  families: () => benchFamilies(quick),
  // The relaxed-SIMD micro-kernel needs a runtime flag on Node 20: measured in a child process that has it.
  relaxed: async () => JSON.parse(execFileSync(process.execPath, [...(Number(process.versions.node.split(".")[0]) < 22 ? ["--experimental-wasm-relaxed-simd"] : []), "--import", "tsx", "bench/relaxed_simd.ts"], { encoding: "utf8" })) as Record<string, number | string>,
};

function parseOnly(argv: string[]): string[] {
  const i = argv.indexOf("--only");
  if (i < 0) return Object.keys(sections);
  const wanted = (argv[i + 1] ?? "").split(",").filter(Boolean);
  const unknown = wanted.filter((w) => !(w in sections));
  if (unknown.length > 0 || wanted.length === 0) {
    console.error(`bench: unknown section(s) ${unknown.join(", ") || "(none given)"}; choose from ${Object.keys(sections).join(", ")}`);
    process.exit(2);
  }
  return wanted;
}

const results: Record<string, number | string> = { ...machineFacts() };
for (const name of parseOnly(process.argv.slice(2))) {
  process.stderr.write(`bench: ${name}…\n`);
  Object.assign(results, await sections[name]!());
}
results["peak_rss_mb"] = peakRssMb();
console.log(JSON.stringify(results, null, 2));
shutdownThreads();
