/**
 * `npm run bench:compare`: our benchmark and the PyTorch/scipy references on the same machine, one after the
 * other (never concurrently: two cores), then the ratios. Needs Debian's python3-torch and python3-scipy.
 *   npm run bench:compare [-- --quick] [-- --only matmul,gpt2,sae,lm,hungarian]
 */
import { execFileSync } from "node:child_process";

const SECTIONS = ["matmul", "gpt2", "sae", "lm", "hungarian", "families"];
const TORCH_SECTIONS = new Set(["matmul", "gpt2", "sae", "lm", "families"]); // tools/reference/bench_torch.py; hungarian is scipy's

function parseArgs(argv: string[]): { quick: boolean; only: string[] } {
  let quick = false, only = SECTIONS;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--quick") quick = true;
    else if (argv[i] === "--only" && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) {
      only = argv[++i]!.split(",").filter(Boolean);
      const unknown = only.filter((s) => !SECTIONS.includes(s));
      if (unknown.length > 0 || only.length === 0) fail(`unknown section(s) ${unknown.join(", ") || "(none given)"}; choose from ${SECTIONS.join(", ")}`);
    } else fail(`unknown argument "${argv[i]}"; use --quick and --only ${SECTIONS.join(",")}`);
  }
  return { quick, only };
}
function fail(message: string): never {
  console.error(`bench:compare: ${message}`);
  process.exit(2);
}

const { quick, only } = parseArgs(process.argv.slice(2));
const run = (cmd: string, args: string[]) => JSON.parse(execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 })) as Record<string, number | string>;
const quickFlag = quick ? ["--quick"] : [];
const ours = run("npx", ["tsx", "bench/run.ts", ...quickFlag, "--only", only.join(",")]);
const torchSections = only.filter((s) => TORCH_SECTIONS.has(s));
const torch = torchSections.length > 0 ? run("/usr/bin/python3", ["tools/reference/bench_torch.py", ...quickFlag, "--only", torchSections.join(",")]) : {};
const scipy = only.includes("hungarian") ? run("/usr/bin/python3", ["tools/reference/bench_lap_scipy.py", "--sizes", quick ? "1024" : "1024,4096"]) : {};
const reference = { ...torch, ...scipy };
const rows: Record<string, unknown>[] = [];
for (const [key, theirs] of Object.entries(reference)) {
  if (typeof theirs !== "number") continue;
  if (key.startsWith("matmul.torch.")) {
    const shape = key.slice("matmul.torch.".length);
    const best = Math.max(...["wasm", "wasm1", "blocked"].map((k) => Number(ours[`matmul.${k}.${shape}`] ?? 0)));
    rows.push({ key: `matmul.${shape}`, ours: best, reference: theirs, ratio: Number((best / theirs).toFixed(3)), better: "higher" });
  } else if (key in ours && typeof ours[key] === "number") {
    const mine = ours[key] as number;
    const higherIsBetter = !key.endsWith(".seconds");
    rows.push({ key, ours: mine, reference: theirs, ratio: Number((higherIsBetter ? mine / theirs : mine / theirs).toFixed(3)), better: higherIsBetter ? "higher" : "lower" });
  }
}
// Every SAE training key also beside the matmul kernel's ceiling for its shape (bench/models.ts, benchSAE).
for (const row of rows) {
  const m = /^sae\.train\.(.+)\.n(\d+)\.k(\d+)\.b(\d+)(\.t1)?\.rows_per_s$/.exec(String(row.key));
  if (!m) continue;
  const ceiling = ours[`sae.ceiling.n${m[2]}.b${m[4]}${m[5] ?? ""}.rows_per_s`];
  if (typeof ceiling === "number") Object.assign(row, { ceiling, overCeiling: Number((ceiling / (row.ours as number)).toFixed(2)) });
}
// Every family forward also beside our matmul kernel's ceiling for its products (bench/families.ts).
for (const row of rows) {
  const m = /^(family\..+)\.tokens_per_s$/.exec(String(row.key));
  if (!m) continue;
  const ofCeiling = ours[`${m[1]}.of_ceiling`];
  if (typeof ofCeiling === "number") Object.assign(row, { ofCeiling });
}
console.log(JSON.stringify({ machine: Object.fromEntries(Object.entries(ours).filter(([k]) => k.startsWith("machine."))), rows }, null, 2));
